#!/usr/bin/env bash
# Installs a built rs1-broker .deb into a throwaway copy of this machine's
# root (an overlay over / in a private mount namespace, discarded at the end)
# and checks what the maintainer scripts do: the data directory's owner and
# mode, enabling the unit or not beside the distribution's mosquitto service,
# remove keeping the data, purge deleting it. systemctl is replaced by a stub
# there that records its calls and answers "is mosquitto.service active?" as
# each scenario says. Not the full install test (a fresh Debian 12 root, a
# broker started over TLS, an upgrade, systemd): scripts/package-install-test.sh.
#   scripts/package-install-check.sh [rs1-broker_VERSION_ARCH.deb]
# Needs root and the package's dependencies installed (then apt fetches nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "package-install-check.sh: needs root (mount namespace, chroot)" >&2; exit 2; }
deb=${1:-$(ls rs1-broker_*_"$(dpkg --print-architecture)".deb 2>/dev/null | sort -V | tail -1)}
[ -f "$deb" ] || { echo "package-install-check.sh: no package (run scripts/package.sh)" >&2; exit 2; }

work=$(mktemp -d /tmp/rs1-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/upper" "$work/work" "$work/root"

unshare -m bash -s "$work" "$(realpath "$deb")" <<'NAMESPACE'
set -euo pipefail
work=$1 deb=$2
root=$work/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/work" "$root"
mount --bind /proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
cp "$deb" "$root/tmp/rs1-broker.deb"
cat >"$root/usr/bin/systemctl" <<'STUB'
#!/bin/sh
# Stub: records the call, answers what deb-systemd-invoke and postinst ask.
echo "$*" >>/tmp/systemctl.log
case "$*" in
  "--version --quiet") echo "systemd 252 (252)" ;;
  *"is-active"*mosquitto.service*) exit "$(cat /tmp/mosquitto-active)" ;;
  *"is-active"*) exit 3 ;;
  *"is-enabled"*) echo enabled ;;
esac
exit 0
STUB
chmod 0755 "$root/usr/bin/systemctl"

chroot "$root" /bin/bash -s <<'CHROOT'
set -euo pipefail
fail() { echo "package-install-check.sh: $*" >&2; exit 1; }
mode() { stat -c '%U:%G %a' "$1"; }
# deb-systemd-helper enables a unit with "systemctl preset" (which the stub
# records) or by linking it itself.
enabled() {
  if [ -L /etc/systemd/system/multi-user.target.wants/rs1-broker.service ] ||
    grep -E '(preset|enable) .*rs1-broker.service' /tmp/systemctl.log >/dev/null; then
    echo yes
  else
    echo no
  fi
}
install_pkg() {
  : >/tmp/systemctl.log
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    /tmp/rs1-broker.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log >&2; fail "apt-get install failed"; }
}
purge_pkg() {
  DEBIAN_FRONTEND=noninteractive apt-get purge -y rs1-broker >/tmp/apt.log 2>&1 ||
    { cat /tmp/apt.log >&2; fail "apt-get purge failed"; }
}
mkdir -p /run/systemd/system   # "systemd is running", for the scripts
rm -f /usr/sbin/policy-rc.d     # a container's "never start a service" policy

# 1. The distribution's mosquitto.service is active: not enabled, not started.
echo 0 >/tmp/mosquitto-active
install_pkg
[ "$(mode /var/lib/rs1)" = "mosquitto:mosquitto 750" ] || fail "/var/lib/rs1 is $(mode /var/lib/rs1)"
[ "$(mode /var/lib/rs1/mosquitto)" = "mosquitto:mosquitto 750" ] || fail "/var/lib/rs1/mosquitto is $(mode /var/lib/rs1/mosquitto)"
[ "$(mode /etc/rs1/tls)" = "root:mosquitto 750" ] || fail "/etc/rs1/tls is $(mode /etc/rs1/tls)"
[ "$(mode /etc/rs1/rs1.conf)" = "root:root 644" ] || fail "/etc/rs1/rs1.conf is $(mode /etc/rs1/rs1.conf)"
[ "$(enabled)" = no ] || fail "enabled beside an active mosquitto.service"
grep -q "systemctl disable --now mosquitto.service" /tmp/apt.log || fail "no hint to disable mosquitto.service"
! grep -q "start.*rs1-broker" /tmp/systemctl.log || fail "started beside an active mosquitto.service"
dpkg-query -W -f='${Conffiles}\n' rs1-broker | grep -q '/etc/rs1/rs1.conf' || fail "rs1.conf is not a conffile"
runuser -u mosquitto -- rs1ctl --db /var/lib/rs1/rs1.db init >/dev/null
runuser -u mosquitto -- rs1ctl --db /var/lib/rs1/rs1.db device add pkg-check-1 >/dev/null
echo "1. beside an active mosquitto.service: data dir mosquitto:mosquitto 0750, unit neither enabled nor started, hint printed"

# remove keeps the data and the configuration.
: >/tmp/systemctl.log
DEBIAN_FRONTEND=noninteractive apt-get remove -y rs1-broker >/tmp/apt.log 2>&1 || { cat /tmp/apt.log >&2; fail "remove failed"; }
[ -f /var/lib/rs1/rs1.db ] || fail "remove deleted the database"
[ -f /etc/rs1/rs1.conf ] || fail "remove deleted the conffile"
[ ! -e /usr/bin/rs1ctl ] || fail "remove left /usr/bin/rs1ctl"
grep -q "stop rs1-broker.service" /tmp/systemctl.log || fail "remove did not stop the broker"
echo "   remove: broker stopped, /var/lib/rs1/rs1.db and /etc/rs1/rs1.conf kept"
purge_pkg
grep -q "purge: deleting /var/lib/rs1" /tmp/apt.log || fail "purge did not say it deletes /var/lib/rs1"
[ ! -e /var/lib/rs1 ] || fail "purge left /var/lib/rs1"
[ ! -e /etc/rs1 ] || fail "purge left /etc/rs1: $(ls -R /etc/rs1)"
[ -z "$(find /etc/systemd -name 'rs1-broker*' 2>/dev/null)" ] || fail "purge left $(find /etc/systemd -name 'rs1-broker*')"
echo "   purge: said so, then deleted /var/lib/rs1 and /etc/rs1; no unit link left"

# 2. No mosquitto.service, no certificate yet: enabled, not started.
echo 3 >/tmp/mosquitto-active
install_pkg
[ "$(enabled)" = yes ] || fail "not enabled with mosquitto.service inactive"
grep -q "enabled, not started" /tmp/apt.log || fail "no hint about the certificate"
! grep -q "start.*rs1-broker" /tmp/systemctl.log || fail "started without a certificate"
echo "2. no mosquitto.service, no certificate: enabled, not started, hint printed"
purge_pkg

# 3. No mosquitto.service, certificate in place: enabled and started.
install -d -o root -g mosquitto -m 0750 /etc/rs1/tls
echo cert >/etc/rs1/tls/server.crt
echo key >/etc/rs1/tls/server.key
install_pkg
[ "$(enabled)" = yes ] || fail "not enabled"
grep -q "start rs1-broker.service" /tmp/systemctl.log || fail "not started: $(cat /tmp/systemctl.log)"
echo "3. no mosquitto.service, certificate in place: enabled and started"
purge_pkg
[ -f /etc/rs1/tls/server.key ] || fail "purge deleted the administrator's key"
grep -q "/etc/rs1/tls is not empty, left in place" /tmp/apt.log || fail "purge did not say it kept /etc/rs1/tls"
echo "   purge: /etc/rs1/tls with the certificate kept, and said so"
CHROOT
NAMESPACE
echo "package-install-check.sh: ok ($(basename "$deb"))"
