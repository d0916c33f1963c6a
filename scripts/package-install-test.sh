#!/usr/bin/env bash
# The full install test of the Debian package (SPEC §11), run by hand before a
# release, as root; not part of ctest (about 10 minutes, most of it the two
# package builds):
#   scripts/package-install-test.sh [--keep-build]
# 1. Builds the package (scripts/package.sh; --keep-build reuses build-pkg/)
#    and a second, higher version of it from a copy of the tree with one
#    test-only schema migration added (the tree itself is not touched).
# 2. Makes a fresh Debian 12 root (debootstrap --variant=minbase bookworm,
#    cached in /var/cache/rs1-install-test, so a rerun unpacks it in seconds)
#    and, chrooted into it with /proc, /dev and /sys mounted in a private mount
#    namespace: installs the package with apt-get install ./rs1-broker_*.deb
#    (the network reaches the Debian mirror only), checks files, owners and
#    modes, runs rs1ctl init as root and checks that every file belongs to
#    mosquitto, starts the broker from the installed configuration outside
#    systemd (in a network namespace of its own, so the production ports 8883
#    and 8080 touch nothing of this machine; a generated certificate in
#    /etc/rs1/tls) and logs a device in over TLS with mosquitto_pub --cafile;
#    a renewed certificate served after SIGHUP (the unit's ExecReload).
# 3. Upgrades to the second package: the pre-upgrade backup exists, the data
#    survived, the new migration ran at the broker's start.
# 4. The rollback drill, timed: reinstall the first package, restore the
#    pre-upgrade backup with rs1ctl backup restore, broker healthy again.
# 5. apt-get remove keeps the data; apt-get purge says so and deletes it.
# 6. Whether systemd-nspawn can boot the root here; when it can, the unit is
#    started for real under systemd.
# Nothing is left behind: the root is deleted, every mount dies with the
# namespace, the brokers are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "package-install-test.sh: needs root (debootstrap, chroot, namespaces)" >&2; exit 2; }
keep_build=()
if [ "${1:-}" = --keep-build ]; then keep_build=(--keep-build); shift; fi
[ $# -eq 0 ] || { echo "usage: scripts/package-install-test.sh [--keep-build]" >&2; exit 2; }

t_start=$(date +%s)
. scripts/deps.sh
rs1_packages=("${rs1_package_tools[@]}")
rs1_install_deps
arch=$(dpkg --print-architecture)
mirror=http://deb.debian.org/debian
cache=/var/cache/rs1-install-test
step() { echo "== $*"; }
fail() {
  echo "package-install-test.sh: $*" >&2
  exit 1
}
work=$(mktemp -d /tmp/rs1-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- 1. The two packages.
version=$(sed -n 's/^project(rs1_broker VERSION \([0-9.]*\) .*/\1/p' CMakeLists.txt)
step "package $version (scripts/package.sh ${keep_build[*]})"
t0=$(date +%s)
scripts/package.sh "${keep_build[@]}" >"$work/package1.log" 2>&1 || { cat "$work/package1.log" >&2; fail "scripts/package.sh failed"; }
deb1=$PWD/rs1-broker_${version}_${arch}.deb
tail -n 7 "$work/package1.log"

# The second build: version x.y.z.1 (higher for dpkg, no real release uses a
# fourth number) with a changelog entry and one more migration, in a copy.
version2=$version.1
step "package $version2: a copy of the tree with a test-only migration"
# In build-install-test/ (ignored, like every build*): --keep-build reuses its
# build-pkg/ too.
tree2=$PWD/build-install-test/tree
[ ${#keep_build[@]} -gt 0 ] || rm -rf "$tree2"
mkdir -p "$tree2"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$tree2" -xf -
last=$(ls schema | sed -n 's/^\([0-9][0-9]*\)_.*\.sql$/\1/p' | sort -n | tail -1)
schema1=$((10#$last))
schema2=$((schema1 + 1))
migration=$(printf '%03d_install_test.sql' "$schema2")
cat >"$tree2/schema/$migration" <<'SQL'
-- Only in the install test's second package: a migration it can see ran.
CREATE TABLE install_test_marker (id INTEGER PRIMARY KEY, note TEXT NOT NULL);
INSERT INTO install_test_marker (id, note) VALUES (1, 'migrated at the upgrade');
SQL
sed -i "s/^project(rs1_broker VERSION $version /project(rs1_broker VERSION $version2 /" "$tree2/CMakeLists.txt"
{
  echo "rs1-broker ($version2) bookworm; urgency=medium"
  echo
  echo "  * Install test build: schema migration $migration."
  echo
  echo " -- RS-1 Broker maintainers <rs1-broker@optic.works>  $(date -R)"
  echo
  cat packaging/changelog
} >"$tree2/packaging/changelog"
"$tree2/scripts/package.sh" "${keep_build[@]}" >"$work/package2.log" 2>&1 || { cat "$work/package2.log" >&2; fail "the second package failed to build"; }
deb2=$tree2/rs1-broker_${version2}_${arch}.deb
[ -f "$deb2" ] || fail "no $deb2"
t_build=$(($(date +%s) - t0))
echo "both packages built in ${t_build} s"

# --- 2. A fresh Debian 12 root: debootstrapped once, then unpacked from the cache.
root=$work/root
mkdir -p "$cache" "$root"
t0=$(date +%s)
if [ -f "$cache/bookworm-minbase-root.tar" ]; then
  step "Debian 12 root: unpacked from $cache/bookworm-minbase-root.tar"
  tar -C "$root" -xpf "$cache/bookworm-minbase-root.tar"
else
  step "Debian 12 root: debootstrap --variant=minbase bookworm (cached for the next run)"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
  # The same suites as this machine: the package was built against them.
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  tar -C "$root" -cpf "$cache/bookworm-minbase-root.tar.tmp" . && mv "$cache/bookworm-minbase-root.tar.tmp" "$cache/bookworm-minbase-root.tar"
fi
echo "root ready in $(($(date +%s) - t0)) s"
cp "$deb1" "$deb2" "$root/var/tmp/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# No service of any package starts in the chroot (the mosquitto package would
# start the distribution's broker on 1883 through its init script).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

cat >"$root/var/tmp/in-root.sh" <<'INROOT'
#!/bin/bash
# Runs inside the root (chroot). $1: the phase.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
fail() { echo "package-install-test.sh: $*" >&2; exit 1; }
owner_mode() { stat -c '%U:%G %a' "$1"; }
expect() {  # PATH "OWNER:GROUP MODE"
  [ "$(owner_mode "$1")" = "$2" ] || fail "$1 is $(owner_mode "$1"), expected $2"
}
db=/var/lib/rs1/rs1.db
# As mosquitto: SQLite may create -wal and -shm next to the database.
sql() { runuser -u mosquitto -- sqlite3 "$@"; }
apt_quiet() { apt-get -y -q -o Dpkg::Use-Pty=0 "$@" >/tmp/apt.log 2>&1 || { cat /tmp/apt.log >&2; fail "apt-get $* failed"; }; }
login() {  # CAFILE PAYLOAD
  local password
  password=$(rs1ctl device password install-1 --secret-file /root/install-1.secret)
  for _ in $(seq 30); do
    if mosquitto_pub -h localhost -p 8883 --cafile "$1" -q 1 -i install-1 -u install-1 -P "$password" \
      -t opticworks/install-1/telemetry/env -m "$2" 2>/tmp/pub.err; then
      return 0
    fi
    sleep 0.1
  done
  cat /tmp/pub.err >&2
  return 1
}
case $1 in
tools)
  # The tools this test uses, not the package's dependencies.
  apt_quiet update
  apt_quiet install --no-install-recommends mosquitto-clients openssl curl sqlite3 iproute2 procps
  # For the boot under systemd-nspawn at the end (a server has them anyway).
  apt_quiet install --no-install-recommends systemd systemd-sysv dbus
  ;;
install)
  deb=$2
  apt_quiet install --no-install-recommends "$deb"
  dpkg-query -W -f='${Status} ${Version}\n' rs1-broker
  # What dpkg installed is what the package holds (checksums), and where SPEC §11 says.
  dpkg --verify rs1-broker || fail "dpkg --verify rs1-broker"
  expect /usr/lib/rs1/rs1_plugin.so "root:root 644"
  expect /usr/bin/rs1ctl "root:root 755"
  expect /usr/bin/rs1-sim "root:root 755"
  expect /etc/rs1/rs1.conf "root:root 644"
  expect /lib/systemd/system/rs1-broker.service "root:root 644"
  expect /usr/share/rs1/alerts.yml "root:root 644"
  expect /usr/share/man/man1/rs1ctl.1.gz "root:root 644"
  expect /usr/share/man/man1/rs1-sim.1.gz "root:root 644"
  expect /usr/share/doc/rs1-broker/README.Debian "root:root 644"
  expect /usr/share/rs1/console/index.html "root:root 644"
  expect /usr/share/rs1/console/vendor/uplot/uPlot.esm.js "root:root 644"
  expect /var/lib/rs1 "mosquitto:mosquitto 750"
  expect /var/lib/rs1/mosquitto "mosquitto:mosquitto 750"
  expect /etc/rs1/tls "root:mosquitto 750"
  dpkg-query -W -f='${Conffiles}\n' rs1-broker | grep -q ' /etc/rs1/rs1.conf ' || fail "rs1.conf is not a conffile"
  man_page=$(zcat /usr/share/man/man1/rs1ctl.1.gz)
  grep -q 'device add' <<<"$man_page" || fail "the rs1ctl man page names no 'device add'"
  echo "installed: files, owners and modes as expected; dpkg --verify ok; /var/lib/rs1 mosquitto:mosquitto 0750"
  ;;
provision)
  # As root, the way an administrator types it.
  rs1ctl --db "$db" init >/dev/null
  rs1ctl --db "$db" --json device add install-1 | sed -n 's/.*"secret": *"\([0-9a-f]*\)".*/\1/p' >/root/install-1.secret
  [ -s /root/install-1.secret ] || fail "rs1ctl device add printed no secret"
  rs1ctl --db "$db" backup now >/dev/null
  strangers=$(find /var/lib/rs1 ! -user mosquitto -o ! -group mosquitto)
  [ -z "$strangers" ] || fail "not mosquitto's after rs1ctl as root: $strangers"
  echo "rs1ctl init, device add, backup now as root: every file in /var/lib/rs1 is mosquitto:mosquitto ($(find /var/lib/rs1 -type f | wc -l) files)"
  # The TLS certificate: a throwaway one for localhost.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout /root/server.key -out /root/server.crt 2>/dev/null
  install -o root -g mosquitto -m 0640 /root/server.crt /etc/rs1/tls/server.crt
  install -o root -g mosquitto -m 0640 /root/server.key /etc/rs1/tls/server.key
  ;;
broker)
  # In a network namespace of its own (lo only): the installed configuration
  # as it is, TLS on 8883, HTTP on 127.0.0.1:8080. $2: what to check.
  ip link set lo up
  mosquitto -c /etc/rs1/rs1.conf >/tmp/broker.out 2>&1 &
  pid=$!
  stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  trap stop EXIT
  t0=$(date +%s%N)
  for _ in $(seq 300); do
    curl -fs http://127.0.0.1:8080/healthz >/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat /tmp/broker.out >&2; fail "mosquitto -c /etc/rs1/rs1.conf exited"; }
    sleep 0.1
  done
  curl -fs http://127.0.0.1:8080/healthz >/dev/null || fail "the broker never answered /healthz"
  echo "broker up (healthz 200) in $((($(date +%s%N) - t0) / 1000000)) ms, as $(ps -o user= -p "$pid")"
  [ "$(ps -o user= -p "$pid")" = mosquitto ] || fail "the broker does not run as mosquitto"
  # The console, from the package's copy (the only one in this root): /
  # names its files under a hashed base, and the app module is served.
  app=$(curl -fs http://127.0.0.1:8080/ | grep -o '/console/[0-9a-f]\{12\}/js/app.js') ||
    fail "/ is not the console's index.html"
  curl -fs -o /dev/null "http://127.0.0.1:8080$app" || fail "the console's $app is not served"
  echo "console served from /usr/share/rs1/console ($app)"
  case $2 in
  first)
    login /etc/rs1/tls/server.crt '{"temp":21.5}' || fail "the device could not publish over TLS"
    for _ in $(seq 30); do
      rs1ctl --db /var/lib/rs1/rs1.db telemetry query --device install-1 | grep -q '21.5' && break
      sleep 0.1
    done
    rs1ctl --db /var/lib/rs1/rs1.db telemetry query --device install-1 | grep -q '21.5' || fail "the row was not stored"
    echo "device install-1 logged in over TLS (mosquitto_pub --cafile), telemetry stored"
    if mosquitto_pub -h localhost -p 8883 --cafile /etc/rs1/tls/server.crt -i anon -t x -m '{}' 2>/dev/null; then
      fail "an anonymous client could publish"
    fi
    if mosquitto_pub -h localhost -p 1883 -i anon -t x -m '{}' 2>/dev/null; then fail "something listens on 1883"; fi
    echo "anonymous refused; nothing on 1883"
    # SIGHUP (ExecReload): a renewed certificate is served without a restart.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
      -addext subjectAltName=DNS:localhost -keyout /root/renewed.key -out /root/renewed.crt 2>/dev/null
    install -o root -g mosquitto -m 0640 /root/renewed.crt /etc/rs1/tls/server.crt
    install -o root -g mosquitto -m 0640 /root/renewed.key /etc/rs1/tls/server.key
    kill -HUP "$pid"
    sleep 1
    kill -0 "$pid" || fail "the broker died on SIGHUP"
    if login /root/renewed.crt '{"temp":22.5}'; then
      echo "SIGHUP: the broker serves the renewed certificate; the device logs in with it"
    else
      fail "after SIGHUP the broker does not serve the renewed certificate"
    fi
    ;;
  upgraded)
    login /etc/rs1/tls/server.crt '{"temp":23.5}' || fail "the device could not log in after the upgrade"
    echo "device install-1 logs in with its old secret after the upgrade"
    ;;
  rolled-back)
    login /etc/rs1/tls/server.crt '{"temp":24.5}' || fail "the device could not log in after the rollback"
    echo "device install-1 logs in after the rollback"
    ;;
  esac
  stop
  trap - EXIT
  ;;
upgrade-refused)
  # A backup that cannot be written (its directory not mosquitto's to write)
  # stops the upgrade before anything is unpacked.
  deb=$2 old=$3
  chown root:root /var/lib/rs1/backups
  chmod 0555 /var/lib/rs1/backups
  if apt-get -y -q -o Dpkg::Use-Pty=0 install --no-install-recommends "$deb" >/tmp/apt.log 2>&1; then
    fail "the upgrade went on although its backup failed"
  fi
  grep -q 'the pre-upgrade backup of /var/lib/rs1/rs1.db failed (above): upgrade aborted, nothing changed' /tmp/apt.log ||
    { cat /tmp/apt.log >&2; fail "no clear message for the failed backup"; }
  [ "$(dpkg-query -W -f='${Status} ${Version}' rs1-broker)" = "install ok installed $old" ] ||
    fail "rs1-broker is $(dpkg-query -W -f='${Status} ${Version}' rs1-broker) after the refused upgrade"
  grep -E '^(rs1-broker|rs1ctl):' /tmp/apt.log | head -n 4
  echo "a failed pre-upgrade backup: upgrade aborted, $old still installed and configured"
  chown mosquitto:mosquitto /var/lib/rs1/backups
  chmod 0750 /var/lib/rs1/backups
  ;;
upgrade)
  deb=$2
  apt_quiet install --no-install-recommends "$deb"
  grep 'rs1-broker:' /tmp/apt.log
  dpkg-query -W -f='${Status} ${Version}\n' rs1-broker
  ;;
after-upgrade)
  old=$2 schema1=$3 schema2=$4
  pre=$(ls /var/lib/rs1/backups/pre-upgrade-"$old"-*.sqlite 2>/dev/null | head -1)
  [ -n "$pre" ] || fail "no pre-upgrade backup in /var/lib/rs1/backups: $(ls /var/lib/rs1/backups)"
  [ "$(stat -c %U:%G "$pre")" = mosquitto:mosquitto ] || fail "$pre is $(stat -c %U:%G "$pre")"
  [ "$(sql "$pre" 'PRAGMA user_version')" = "$schema1" ] || fail "the pre-upgrade backup is not at schema $schema1"
  [ "$(sql "$pre" "SELECT count(*) FROM devices WHERE device_id = 'install-1'")" = 1 ] || fail "the backup lacks install-1"
  echo "pre-upgrade backup $pre (schema $schema1, holds install-1)"
  [ "$(sql "$db" 'PRAGMA user_version')" = "$schema2" ] || fail "the database is not at schema $schema2 after the broker's start"
  [ "$(sql "$db" 'SELECT note FROM install_test_marker')" = "migrated at the upgrade" ] || fail "no install_test_marker"
  rows=$(rs1ctl --db "$db" --json telemetry query --device install-1 | grep -c '"temp"')
  [ "$rows" -ge 3 ] || fail "telemetry lost in the upgrade: $rows rows"
  echo "upgrade: schema $schema1 -> $schema2 migrated by the new plugin at start; device and $rows telemetry rows kept"
  strangers=$(find /var/lib/rs1 ! -user mosquitto)
  [ -z "$strangers" ] || fail "not mosquitto's after the upgrade: $strangers"
  ;;
rollback)
  old_deb=$2 old=$3
  apt_quiet install --no-install-recommends --allow-downgrades "$old_deb"
  grep 'rs1-broker:' /tmp/apt.log || true
  pre=$(ls /var/lib/rs1/backups/pre-upgrade-"$old"-*.sqlite | head -1)
  rs1ctl backup restore "$pre" --to "$db" --force
  ;;
after-rollback)
  schema1=$2
  [ "$(sql "$db" 'PRAGMA user_version')" = "$schema1" ] || fail "not at schema $schema1 after the rollback"
  strangers=$(find /var/lib/rs1 ! -user mosquitto)
  [ -z "$strangers" ] || fail "not mosquitto's after the rollback: $strangers"
  echo "rollback: $(dpkg-query -W -f='${Version}' rs1-broker) reinstalled, database back at schema $schema1, mosquitto's files"
  ;;
remove)
  apt_quiet remove rs1-broker
  [ -f "$db" ] || fail "remove deleted the database"
  [ -f /etc/rs1/rs1.conf ] || fail "remove deleted /etc/rs1/rs1.conf"
  [ ! -e /usr/bin/rs1ctl ] || fail "remove left /usr/bin/rs1ctl"
  echo "remove: binaries gone; $db and /etc/rs1/rs1.conf kept"
  apt_quiet purge rs1-broker
  grep 'rs1-broker: purge' /tmp/apt.log
  grep -q 'purge: deleting /var/lib/rs1' /tmp/apt.log || fail "purge did not say it deletes /var/lib/rs1"
  [ ! -e /var/lib/rs1 ] || fail "purge left /var/lib/rs1"
  [ ! -e /etc/rs1/rs1.conf ] || fail "purge left /etc/rs1/rs1.conf"
  echo "purge: said so, deleted /var/lib/rs1 and rs1.conf; /etc/rs1/tls kept with the administrator's certificate"
  ;;
systemd)
  # Booted by systemd-nspawn: the unit for real, hardening and all.
  deb=$2
  rm -f /usr/sbin/policy-rc.d
  apt_quiet install --no-install-recommends "$deb"
  systemctl is-active --quiet mosquitto.service || fail "the distribution's mosquitto.service is not running"
  grep -q 'systemctl disable --now mosquitto.service' /tmp/apt.log || fail "no hint to disable mosquitto.service"
  if systemctl is-enabled --quiet rs1-broker.service || systemctl is-active --quiet rs1-broker.service; then
    fail "rs1-broker enabled or started beside an active mosquitto.service"
  fi
  echo "beside the running mosquitto.service: rs1-broker neither enabled nor started; the hint printed"
  systemctl disable --now mosquitto.service >/dev/null 2>&1
  rs1ctl --db "$db" init >/dev/null
  rs1ctl --db "$db" --json device add install-1 | sed -n 's/.*"secret": *"\([0-9a-f]*\)".*/\1/p' >/root/install-1.secret
  systemctl enable --now rs1-broker.service >/dev/null 2>&1 || { systemctl status rs1-broker --no-pager >&2; fail "systemctl enable --now rs1-broker failed"; }
  for _ in $(seq 100); do curl -fs http://127.0.0.1:8080/healthz >/dev/null && break; sleep 0.1; done
  curl -fs http://127.0.0.1:8080/healthz >/dev/null || { journalctl -u rs1-broker --no-pager >&2; fail "rs1-broker.service not healthy"; }
  main=$(systemctl show -p MainPID --value rs1-broker.service)
  [ "$(ps -o user= -p "$main")" = mosquitto ] || fail "the service does not run as mosquitto"
  grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$main/status" || fail "the broker has capabilities: $(grep Cap "/proc/$main/status")"
  grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$main/status" || fail "NoNewPrivs is off"
  echo "rs1-broker.service active under systemd as mosquitto (no capabilities, NoNewPrivs)"
  login /etc/rs1/tls/server.crt '{"temp":30.5}' || { journalctl -u rs1-broker --no-pager >&2; fail "no TLS login under systemd"; }
  echo "device install-1 logged in over TLS to the service"
  systemctl reload rs1-broker.service
  sleep 1
  systemctl is-active --quiet rs1-broker.service || fail "not active after systemctl reload"
  [ "$(systemctl show -p MainPID --value rs1-broker.service)" = "$main" ] || fail "systemctl reload restarted the broker"
  login /etc/rs1/tls/server.crt '{"temp":31.5}' || fail "no TLS login after systemctl reload"
  echo "systemctl reload: same process, still serving"
  journal=$(journalctl -u rs1-broker --no-pager)
  grep -q 'rs1: serving 1 device' <<<"$journal" || { echo "$journal" >&2; fail "journalctl -u rs1-broker lacks the plugin's start line"; }
  grep -q 'Reloading config' <<<"$journal" || fail "journalctl -u rs1-broker lacks the reload"
  echo "journalctl -u rs1-broker: $(wc -l <<<"$journal") lines, the plugin's rs1: lines among them"
  systemd-analyze security --no-pager rs1-broker.service | tail -n 1
  apt_quiet purge rs1-broker
  ! systemctl is-active --quiet rs1-broker.service || fail "purge left the service running"
  echo "purge: the service stopped"
  ;;
*) fail "unknown phase $1" ;;
esac
INROOT
chmod 0755 "$root/var/tmp/in-root.sh"

# Everything below in a private mount namespace: the mounts go with it.
export root deb1 deb2 version version2 schema1 schema2 work
unshare -m --propagation private bash -s <<'NAMESPACE'
set -euo pipefail
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
mount -t tmpfs tmpfs "$root/run"
mkdir -p "$root/run/lock"
in_root() { chroot "$root" /var/tmp/in-root.sh "$@"; }
# The broker's phases: no network but its own loopback.
in_root_isolated() { unshare -n chroot "$root" /var/tmp/in-root.sh "$@"; }
ms() { date +%s%N; }
since() { echo "$((($(date +%s%N) - $1) / 1000000))"; }

echo "== install rs1-broker $version into the fresh root"
in_root tools
t0=$(ms)
in_root install "/var/tmp/$(basename "$deb1")"
echo "   apt-get install ./$(basename "$deb1"): $(since "$t0") ms"
in_root provision
echo "== the broker from /etc/rs1/rs1.conf, outside systemd"
in_root_isolated broker first

echo "== upgrade to $version2 (migration $schema2)"
in_root upgrade-refused "/var/tmp/$(basename "$deb2")" "$version"
t0=$(ms)
in_root upgrade "/var/tmp/$(basename "$deb2")"
in_root_isolated broker upgraded
in_root after-upgrade "$version" "$schema1" "$schema2"
echo "   upgrade, broker up on the new plugin: $(since "$t0") ms"

echo "== rollback drill: reinstall $version, restore the pre-upgrade backup, broker up"
t0=$(ms)
in_root rollback "/var/tmp/$(basename "$deb1")" "$version"
in_root_isolated broker rolled-back
drill=$(since "$t0")
in_root after-rollback "$schema1"
echo "   rollback drill: $drill ms"
echo "$drill" >"$work/drill_ms"

echo "== remove, purge"
in_root remove
NAMESPACE

# --- 6. The same root booted with systemd (systemd-nspawn -b, its own
# network: loopback only), the package installed once more, the unit started.
step "systemd-nspawn -b: rs1-broker.service under systemd"
nspawn_pid=
stop_container() {
  [ -n "$nspawn_pid" ] || return 0
  if [ -n "${init_pid:-}" ]; then nsenter -t "$init_pid" -a systemctl poweroff >/dev/null 2>&1 || true; fi
  for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
  kill "$nspawn_pid" 2>/dev/null || true
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=
}
trap 'stop_container; rm -rf "$work"' EXIT
# --register=no --keep-unit: no systemd runs this machine (no machined, no
# scope to allocate); the container's own systemd does not need them.
systemd-nspawn -q -D "$root" --register=no --keep-unit --private-network -b --console=pipe \
  </dev/null >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!
init_pid=
for _ in $(seq 100); do
  init_pid=$(ps -o pid= --ppid "$nspawn_pid" 2>/dev/null | head -n 1 | tr -d ' ' || true)
  [ -n "$init_pid" ] && break
  sleep 0.2
done
[ -n "$init_pid" ] || { cat "$work/nspawn.log" >&2; fail "systemd-nspawn -b started no init"; }
state=
for _ in $(seq 120); do
  state=$(nsenter -t "$init_pid" -a systemctl is-system-running 2>/dev/null || true)
  case $state in running | degraded) break ;; esac
  sleep 0.5
done
case $state in running | degraded) ;; *) fail "the container's systemd is '$state'" ;; esac
echo "container booted (systemd $state)"
t0=$(date +%s%N)
nsenter -t "$init_pid" -a /var/tmp/in-root.sh systemd "/var/tmp/$(basename "$deb1")"
echo "   under systemd: $((($(date +%s%N) - t0) / 1000000)) ms"
stop_container

total=$(($(date +%s) - t_start))
echo
echo "package-install-test.sh: ok ($(basename "$deb1") -> $(basename "$deb2") -> $(basename "$deb1")); whole run ${total} s (package builds ${t_build} s); rollback drill $(cat "$work/drill_ms") ms"
