# Installs the Debian 12 packages RS-1 Broker needs to build, run and test,
# when any is missing. Sourced by run.sh and test.sh.
rs1_packages=(
  build-essential cmake ninja-build pkg-config
  mosquitto mosquitto-dev libmosquitto-dev mosquitto-clients
  libssl-dev openssl libsqlite3-dev sqlite3 nlohmann-json3-dev catch2
  libcpp-httplib-dev zlib1g-dev libcli11-dev
  prometheus
  python3-jsonschema python3-yaml
  faketime
)
# What the package's checks need on top: dpkg-deb and dpkg-shlibdeps, lintian,
# help2man for the man pages, file and readelf (stripped, no RPATH). The plain
# build of scripts/test.sh packs itself (ctest package.deb), so it needs them.
rs1_package_check_tools=(dpkg-dev lintian help2man file binutils)
# scripts/package.sh adds systemd-analyze for the unit;
# scripts/package-install-test.sh debootstrap for the fresh Debian 12 root and
# systemd-nspawn (systemd-container) to try booting it.
rs1_package_tools=("${rs1_package_check_tools[@]}" systemd debootstrap systemd-container)

rs1_install_deps() {
  rs1_apt_install "${rs1_packages[@]}"
  # The mosquitto package may start a system broker on 1883; the dev broker
  # needs that port.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    "${rs1_sudo[@]}" systemctl disable --now mosquitto || true
  fi
}

# The console's browser tests (test/browser): Debian's chromium, node and npm
# (any node >= 18 already installed is used), and the npm packages of
# test/browser/package-lock.json.
rs1_install_test_deps() {
  local pkgs=(chromium)
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
  rs1_apt_install "${pkgs[@]}"
  if [ ! -f test/browser/node_modules/.package-lock.json ] ||
     ! cmp -s test/browser/package-lock.json test/browser/node_modules/.rs1-lock; then
    echo "rs1: npm ci in test/browser" >&2
    (cd test/browser && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.rs1-lock)
  fi
}

rs1_sudo=()
[ "$(id -u)" -eq 0 ] || rs1_sudo=(sudo)

# Installs those of the Debian packages given that are not installed.
rs1_apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "rs1: installing ${missing[*]}" >&2
  "${rs1_sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${rs1_sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Configures a build directory: Ninja for a new one (it keeps both cores
# busy across targets), whatever generator an existing one already has.
rs1_configure() {
  local dir=$1
  shift
  local generator=()
  [ -f "$dir/CMakeCache.txt" ] || generator=(-G Ninja)
  cmake -S . -B "$dir" "${generator[@]}" "$@" >/dev/null
}
