#!/usr/bin/env bash
# Builds the Debian package rs1-broker_<version>_<arch>.deb from the tree and
# checks it: its files, their owners and modes, its control data (conffile,
# dependencies, maintainer scripts), lintian, and the systemd unit.
#   scripts/package.sh [--keep-build]
# A fresh Release build in build-pkg/ (--keep-build reuses it); the package is
# written to build-pkg/ and copied to the repository root. The version is
# project(VERSION) in CMakeLists.txt. Exits 1 when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
rs1_packages+=("${rs1_package_tools[@]}")
rs1_install_deps

build=build-pkg
if [ "${1:-}" = --keep-build ]; then
  shift
else
  rm -rf "$build"
fi
[ $# -eq 0 ] || { echo "usage: scripts/package.sh [--keep-build]" >&2; exit 2; }

fail() {
  echo "package.sh: $*" >&2
  exit 1
}

version=$(sed -n 's/^project(rs1_broker VERSION \([0-9.]*\) .*/\1/p' CMakeLists.txt)
[ -n "$version" ] || fail "no project(rs1_broker VERSION x.y.z) in CMakeLists.txt"
changelog_version=$(sed -n '1s/^rs1-broker (\([^)]*\)).*/\1/p' packaging/changelog)
[ "$changelog_version" = "$version" ] ||
  fail "packaging/changelog starts at ${changelog_version:-nothing}, CMakeLists.txt says $version: add an entry"
arch=$(dpkg --print-architecture)
deb=rs1-broker_${version}_${arch}.deb

# Debian's hardening flags (stack protector, fortify, relro, bindnow).
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
CXXFLAGS="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
export CFLAGS CXXFLAGS LDFLAGS

rs1_configure "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DRS1_BUILD_TESTS=OFF -DRS1_DEB_PACKAGE=ON \
  -DRS1_SIM_DEFAULT_PLUGIN_PATH=/usr/lib/rs1/rs1_plugin.so
cmake --build "$build" -j"$(nproc)"
rm -f "$build/$deb"
cpack_out=$(cd "$build" && cpack -G DEB 2>&1) || { echo "$cpack_out" >&2; fail "cpack failed"; }
[ -f "$build/$deb" ] || fail "cpack wrote no $build/$deb"

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
listing=$(dpkg-deb -c "$build/$deb")
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
conffiles=$(dpkg-deb -I "$build/$deb" conffiles)
[ "$conffiles" = /etc/rs1/rs1.conf ] || fail "conffiles is '$conffiles', expected /etc/rs1/rs1.conf"
[ "$(dpkg-deb -f "$build/$deb" Package Version Architecture | tr '\n' ' ')" = \
  "Package: rs1-broker Version: $version Architecture: $arch " ] || fail "wrong Package/Version/Architecture"
depends=$(dpkg-deb -f "$build/$deb" Depends)
dep_names=$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//')
for dep in mosquitto libc6 libstdc++6 libsqlite3-0 libssl3 zlib1g libmosquitto1 libcpp-httplib0.11; do
  grep -Fx "$dep" <<<"$dep_names" >/dev/null || fail "Depends lacks $dep: $depends"
done
scripts=$(dpkg-deb --ctrl-tarfile "$build/$deb" | tar -tvf - | awk '{ print $1, $2, $6 }' | sort -k3)
for script in preinst postinst prerm postrm; do
  grep -qx -- "-rwxr-xr-x root/root ./$script" <<<"$scripts" || fail "no executable $script owned by root: $scripts"
done

# --- What the files say agrees with where they are.
unpacked=$build/unpacked
rm -rf "$unpacked"
dpkg-deb -x "$build/$deb" "$unpacked"
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
strings "$unpacked/usr/bin/rs1-sim" | grep -x /usr/lib/rs1/rs1_plugin.so >/dev/null ||
  fail "rs1-sim bench does not default to the installed plugin"
for script in preinst postinst prerm postrm; do
  sh -n "packaging/$script" || fail "packaging/$script: syntax error"
done

# --- The packaged configuration starts a broker (outside systemd, its paths
# moved under a temporary directory, loopback ports): a device provisioned
# with the packaged rs1ctl logs in over TLS and its telemetry is stored.
smoke=$(mktemp -d /tmp/rs1-package.XXXXXX)
broker_pid=
cleanup() {
  [ -z "$broker_pid" ] || kill "$broker_pid" 2>/dev/null || true
  [ -z "$broker_pid" ] || wait "$broker_pid" 2>/dev/null || true
  rm -rf "$smoke"
}
trap cleanup EXIT
as_broker=()
if [ "$(id -u)" -eq 0 ]; then as_broker=(runuser -u mosquitto --); fi
mkdir -p "$smoke/tls" "$smoke/lib" "$smoke/data/mosquitto"
cp "$unpacked/usr/lib/rs1/rs1_plugin.so" "$unpacked/usr/bin/rs1ctl" "$smoke/lib/"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$smoke/tls/server.key" -out "$smoke/tls/server.crt" 2>/dev/null
mqtt_port=$((20000 + RANDOM % 20000))
http_port=$((mqtt_port + 1))
sed -e "s#/etc/rs1/tls/#$smoke/tls/#" -e "s#/var/lib/rs1#$smoke/data#g" \
  -e "s#^plugin /usr/lib/rs1/#plugin $smoke/lib/#" -e "s#^listener 8883\$#listener $mqtt_port 127.0.0.1#" \
  -e "s#127.0.0.1:8080#127.0.0.1:$http_port#" -e 's#^log_dest syslog$#log_dest stderr#' \
  "$unpacked/etc/rs1/rs1.conf" >"$smoke/rs1.conf"
grep -q "^listener $mqtt_port 127.0.0.1" "$smoke/rs1.conf" || fail "rs1.conf has no 'listener 8883' line"
if [ "$(id -u)" -eq 0 ]; then chown -R mosquitto:mosquitto "$smoke"; fi
chmod 0755 "$smoke"
mosquitto -c "$smoke/rs1.conf" 2>"$smoke/broker.log" &
broker_pid=$!
healthy=no
for _ in $(seq 100); do
  if curl -fs "http://127.0.0.1:$http_port/healthz" >/dev/null; then healthy=yes; break; fi
  kill -0 "$broker_pid" 2>/dev/null || break
  sleep 0.1
done
[ "$healthy" = yes ] || { cat "$smoke/broker.log" >&2; fail "the packaged configuration did not start a healthy broker"; }
ctl=("${as_broker[@]}" "$smoke/lib/rs1ctl" --db "$smoke/data/rs1.db")
secret=$("${ctl[@]}" --json device add pkg-check-1 | sed -n 's/.*"secret": *"\([0-9a-f]*\)".*/\1/p')
[ -n "$secret" ] || fail "rs1ctl device add printed no secret"
password=$("${ctl[@]}" device password pkg-check-1 --secret-file - <<<"$secret")
published=no
for _ in $(seq 50); do
  # Refused until the broker has applied the new device (within 2 s).
  if mosquitto_pub -h localhost -p "$mqtt_port" --cafile "$smoke/tls/server.crt" -q 1 -i pkg-check-1 \
    -u pkg-check-1 -P "$password" -t opticworks/pkg-check-1/telemetry/env -m '{"temp":21.5}' 2>/dev/null; then
    published=yes
    break
  fi
  sleep 0.1
done
[ "$published" = yes ] || { cat "$smoke/broker.log" >&2; fail "the device could not publish over TLS"; }
stored=no
for _ in $(seq 50); do
  if "${ctl[@]}" telemetry query --device pkg-check-1 | grep -E '"temp": ?21\.5' >/dev/null; then stored=yes; break; fi
  sleep 0.1
done
[ "$stored" = yes ] || fail "the telemetry row was not stored"
if mosquitto_pub -h localhost -p "$mqtt_port" --cafile "$smoke/tls/server.crt" -i anon -t x -m '{}' 2>/dev/null; then
  fail "an anonymous client could publish"
fi
kill "$broker_pid"
wait "$broker_pid" 2>/dev/null || true
broker_pid=

# --- lintian: no error or warning, and no override (none is needed).
lintian_out=$(lintian --fail-on error,warning --display-info --show-overrides "$build/$deb" 2>&1) ||
  { echo "$lintian_out" >&2; fail "lintian failed"; }
[ -z "$lintian_out" ] || echo "$lintian_out"
overrides=$(grep -c '^O: ' <<<"$lintian_out" || true)
infos=$(grep -c '^I: ' <<<"$lintian_out" || true)

# --- The unit.
unit=$unpacked/lib/systemd/system/rs1-broker.service
# --man=no: the man page the unit names comes with the package itself.
verify_out=$(systemd-analyze verify --man=no "$unit" 2>&1) || { echo "$verify_out" >&2; fail "systemd-analyze verify failed"; }
[ -z "$verify_out" ] || { echo "$verify_out" >&2; fail "systemd-analyze verify complained"; }
security_out=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1) ||
  { echo "$security_out" >&2; fail "systemd-analyze security failed"; }
exposure=$(sed -n 's/.*Overall exposure level for rs1-broker.service: *//p' <<<"$security_out")
[ -n "$exposure" ] || { echo "$security_out" >&2; fail "no exposure level from systemd-analyze security"; }

cp "$build/$deb" .
size=$(stat -c %s "$deb")
echo
echo "$deb: $((size / 1024)) KiB ($size bytes), $nfiles files"
echo "contents: ok (paths, root/root, modes as expected; binaries stripped, no RPATH)"
echo "control: conffiles $conffiles; Depends: $depends"
echo "broker: the packaged rs1.conf starts a healthy broker; a device logs in over TLS, its telemetry is stored; anonymous refused"
echo "lintian: clean (0 errors, 0 warnings; $infos info tags, $overrides overridden)"
echo "systemd-analyze verify: ok"
echo "systemd-analyze security --offline=yes: exposure $exposure"
