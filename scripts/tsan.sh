#!/usr/bin/env bash
# Builds everything with ThreadSanitizer (build-tsan/, -DRS1_TSAN=ON) and runs
# the unit and integration tests in it; the first data race a test process
# or a broker reports fails that test. Not part of scripts/test.sh (it takes
# as long as the ASan run again). Extra arguments go to ctest, e.g.
#   scripts/tsan.sh -R integration.presence
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
rs1_install_deps
jobs=$(nproc)
rs1_configure build-tsan -DRS1_WERROR=ON -DRS1_TSAN=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build build-tsan -j"$jobs"
if [ $# -eq 0 ]; then
  set -- -L 'unit|integration'
fi
cd build-tsan
ctest -j"$jobs" --output-on-failure --timeout 300 "$@"
