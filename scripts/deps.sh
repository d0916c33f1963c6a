# Installs the Debian 12 packages RS-1 Broker needs to build, run and test,
# when any is missing. Sourced by run.sh and test.sh.
rs1_packages=(
  build-essential cmake pkg-config
  mosquitto mosquitto-dev libmosquitto-dev mosquitto-clients
  libssl-dev libsqlite3-dev sqlite3 nlohmann-json3-dev catch2
  libcpp-httplib-dev zlib1g-dev libcli11-dev
  prometheus
)

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
