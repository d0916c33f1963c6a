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
  local missing=() pkg
  for pkg in "${rs1_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "rs1: installing ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The mosquitto package may start a system broker on 1883; the dev broker
  # needs that port.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    "${sudo[@]}" systemctl disable --now mosquitto || true
  fi
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
