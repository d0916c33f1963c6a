#!/usr/bin/env bash
# Builds everything twice (plain with warnings as errors, then with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every unit and
# integration test in both builds; the plain one also packs itself into the
# Debian package and checks it (ctest package.deb).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
rs1_packages+=("${rs1_package_check_tools[@]}")
rs1_install_deps
rs1_install_test_deps
jobs=$(nproc)
for variant in plain asan; do
  dir=build
  # The plain build also has the package's install rules: ctest package.deb
  # packs it (no second compile).
  flags=(-DRS1_WERROR=ON -DRS1_DEB_PACKAGE=ON -DCMAKE_INSTALL_PREFIX=/usr)
  if [ "$variant" = asan ]; then
    dir=build-asan
    flags=(-DRS1_WERROR=ON -DRS1_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  fi
  echo "== $variant build ($dir)"
  rs1_configure "$dir" "${flags[@]}"
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 300)
done
