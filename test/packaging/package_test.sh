#!/usr/bin/env bash
# ctest package.deb: packs the already-built tree with CPack's DEB generator,
# as scripts/package.sh does (no second compile), and runs the package's
# checks on it (scripts/check-package.sh: files, owners, modes, control data,
# maintainer scripts, lintian). What it does not do, scripts/package.sh does:
# a Release build with Debian's hardening flags, a broker started from the
# packaged configuration, systemd-analyze.
#   test/packaging/package_test.sh BUILD_DIR VERSION
set -euo pipefail
build=$1 version=$2
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d /tmp/rs1-package-test.XXXXXX)
trap 'rm -rf "$out"' EXIT
arch=$(dpkg --print-architecture)
cpack_log=$(cpack -G DEB -B "$out" --config "$build/CPackConfig.cmake" 2>&1) ||
  { echo "$cpack_log" >&2; echo "package_test.sh: cpack failed" >&2; exit 1; }
deb=$out/rs1-broker_${version}_${arch}.deb
[ -f "$deb" ] || { echo "$cpack_log" >&2; echo "package_test.sh: cpack wrote no $deb" >&2; exit 1; }
echo "$(basename "$deb"): $(($(stat -c %s "$deb") / 1024)) KiB"
"$source_dir/scripts/check-package.sh" "$deb" "$version"
