#!/usr/bin/env bash
# Builds everything twice (plain with warnings as errors, then with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every unit and
# integration test in both builds.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
rs1_install_deps
rs1_install_test_deps
jobs=$(nproc)
for variant in plain asan; do
  dir=build
  flags=(-DRS1_WERROR=ON)
  if [ "$variant" = asan ]; then
    dir=build-asan
    flags+=(-DRS1_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  fi
  echo "== $variant build ($dir)"
  rs1_configure "$dir" "${flags[@]}"
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 300)
done
