#!/usr/bin/env bash
# Builds the plugin and rs1-sim (optimised, no sanitizers) and runs the
# side-by-side benchmark against a vanilla mosquitto. Arguments go to
# `rs1-sim bench` (e.g. --smoke, --only a, --rounds 3, --json).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
rs1_install_deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target rs1_plugin rs1-sim
exec build/tools/rs1-sim bench "$@"
