#!/usr/bin/env bash
# Builds the Debian package rs1-broker_<version>_<arch>.deb from the tree and
# checks it: its files, their owners and modes, its control data (conffile,
# dependencies, maintainer scripts), lintian (scripts/check-package.sh), a
# broker started from the packaged configuration, and the systemd unit.
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

# --- Contents, control data, what the files say, lintian.
check_out=$(scripts/check-package.sh "$build/$deb" "$version") || fail "scripts/check-package.sh failed"
unpacked=$build/unpacked
rm -rf "$unpacked"
dpkg-deb -x "$build/$deb" "$unpacked"
strings "$unpacked/usr/bin/rs1-sim" | grep -x /usr/lib/rs1/rs1_plugin.so >/dev/null ||
  fail "rs1-sim bench does not default to the installed plugin"

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
echo "$deb: $((size / 1024)) KiB ($size bytes)"
echo "$check_out" | grep -v '^lintian:'
echo "rs1-sim: bench defaults to the installed plugin"
echo "broker: the packaged rs1.conf starts a healthy broker; a device logs in over TLS, its telemetry is stored; anonymous refused"
echo "$check_out" | grep '^lintian:'
echo "systemd-analyze verify: ok"
echo "systemd-analyze security --offline=yes: exposure $exposure"
