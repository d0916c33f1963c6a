#!/usr/bin/env bash
# Builds the plugin and rs1ctl and runs the development broker in the
# foreground: plain MQTT on 127.0.0.1:1883, SQLite under ./var.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
rs1_install_deps
rs1_configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)" --target rs1_plugin rs1ctl rs1-sim
mkdir -p var
build/tools/rs1ctl --db var/rs1.db init
exec mosquitto -c broker-config/dev.conf
