#!/usr/bin/env bash
# Checks a built rs1-broker .deb: exactly the expected files (the console's
# as this tree has them), owned by root,
# with their modes; its control data (conffile, Package/Version/Architecture,
# the dependencies, the maintainer scripts); the conffile is
# broker-config/production.conf and loads the installed plugin, the unit runs
# mosquitto -c /etc/rs1/rs1.conf; the binaries are stripped with no RPATH;
# lintian passes with no error, warning or override.
#   scripts/check-package.sh DEB VERSION
# Used by scripts/package.sh and by the ctest test package.deb (which packs
# the plain build tree with cpack). Prints one line per group of checks;
# exits 1 on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: scripts/check-package.sh DEB VERSION" >&2; exit 2; }
deb=$1 version=$2
[ -f "$deb" ] || { echo "check-package.sh: no $deb" >&2; exit 2; }
arch=$(dpkg --print-architecture)
fail() {
  echo "check-package.sh: $*" >&2
  exit 1
}
work=$(mktemp -d /tmp/rs1-check-package.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- Contents: exactly these files, owned by root, with these modes.
expected="\
-rw-r--r-- ./etc/rs1/rs1.conf
-rw-r--r-- ./lib/systemd/system/rs1-broker.service
-rwxr-xr-x ./usr/bin/rs1-sim
-rwxr-xr-x ./usr/bin/rs1ctl
-rw-r--r-- ./usr/lib/rs1/rs1_plugin.so
-rw-r--r-- ./usr/share/doc/rs1-broker/README.Debian
-rw-r--r-- ./usr/share/doc/rs1-broker/changelog.gz
-rw-r--r-- ./usr/share/doc/rs1-broker/copyright
-rw-r--r-- ./usr/share/man/man1/rs1-sim.1.gz
-rw-r--r-- ./usr/share/man/man1/rs1ctl.1.gz
-rw-r--r-- ./usr/share/rs1/alerts.yml"
# and every file of this tree's console/, under /usr/share/rs1/console.
expected=$({ echo "$expected"
             (cd console && find . -type f ! -name '.*' | sed 's|^\./|-rw-r--r-- ./usr/share/rs1/console/|')
           } | sort -k2)
listing=$(dpkg-deb -c "$deb")
actual=$(awk '$1 !~ /^d/ { print $1, $6 }' <<<"$listing" | sort -k2)
if [ "$actual" != "$expected" ]; then
  diff <(echo "$expected") <(echo "$actual") >&2 || true
  fail "contents differ from the expected list (< expected, > in the package)"
fi
bad_owner=$(awk '$2 != "root/root" { print $6 }' <<<"$listing")
[ -z "$bad_owner" ] || fail "not owned by root/root: $bad_owner"
bad_dir=$(awk '$1 ~ /^d/ && $1 != "drwxr-xr-x" { print $1, $6 }' <<<"$listing")
[ -z "$bad_dir" ] || fail "directories not 0755: $bad_dir"
nfiles=$(wc -l <<<"$actual")

# --- Control data: conffile, dependencies, maintainer scripts.
conffiles=$(dpkg-deb -I "$deb" conffiles)
[ "$conffiles" = /etc/rs1/rs1.conf ] || fail "conffiles is '$conffiles', expected /etc/rs1/rs1.conf"
[ "$(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')" = \
  "Package: rs1-broker Version: $version Architecture: $arch " ] || fail "wrong Package/Version/Architecture"
depends=$(dpkg-deb -f "$deb" Depends)
dep_names=$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//')
for dep in mosquitto libc6 libstdc++6 libsqlite3-0 libssl3 zlib1g libmosquitto1 libcpp-httplib0.11; do
  grep -Fx "$dep" <<<"$dep_names" >/dev/null || fail "Depends lacks $dep: $depends"
done
scripts=$(dpkg-deb --ctrl-tarfile "$deb" | tar -tvf - | awk '{ print $1, $2, $6 }' | sort -k3)
for script in preinst postinst prerm postrm; do
  grep -qx -- "-rwxr-xr-x root/root ./$script" <<<"$scripts" || fail "no executable $script owned by root: $scripts"
done

# --- What the files say agrees with where they are.
unpacked=$work/unpacked
rm -rf "$unpacked"
dpkg-deb -x "$deb" "$unpacked"
cmp -s "$unpacked/etc/rs1/rs1.conf" broker-config/production.conf ||
  fail "/etc/rs1/rs1.conf is not broker-config/production.conf"
plugin_line=$(sed -n 's/^plugin \(.*\)/\1/p' "$unpacked/etc/rs1/rs1.conf")
[ "$plugin_line" = /usr/lib/rs1/rs1_plugin.so ] || fail "rs1.conf loads '$plugin_line'"
grep -qx 'ExecStart=/usr/sbin/mosquitto -c /etc/rs1/rs1.conf' "$unpacked/lib/systemd/system/rs1-broker.service" ||
  fail "the unit does not start mosquitto -c /etc/rs1/rs1.conf"
for elf in usr/bin/rs1ctl usr/bin/rs1-sim usr/lib/rs1/rs1_plugin.so; do
  file -b "$unpacked/$elf" | grep ', stripped' >/dev/null || fail "$elf is not stripped"
  if readelf -d "$unpacked/$elf" | grep -E 'RPATH|RUNPATH' >/dev/null; then fail "$elf has an RPATH"; fi
done
for script in preinst postinst prerm postrm; do
  sh -n "packaging/$script" || fail "packaging/$script: syntax error"
done

# --- lintian: no error or warning, and no override (none is needed).
lintian_out=$(lintian --fail-on error,warning --display-info --show-overrides "$deb" 2>&1) ||
  { echo "$lintian_out" >&2; fail "lintian failed"; }
[ -z "$lintian_out" ] || echo "$lintian_out"
overrides=$(grep -c '^O: ' <<<"$lintian_out" || true)
infos=$(grep -c '^I: ' <<<"$lintian_out" || true)

echo "contents: ok ($nfiles files; paths, root/root, modes as expected; binaries stripped, no RPATH)"
echo "control: conffiles $conffiles; Depends: $depends"
echo "lintian: clean (0 errors, 0 warnings; $infos info tags, $overrides overridden)"
