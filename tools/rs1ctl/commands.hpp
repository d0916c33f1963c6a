// The commands of SPEC §8, each group registering itself on the Cli.
#pragma once

#include "cli.hpp"

namespace rs1ctl {

void add_init_command(Cli& cli);
void add_device_commands(Cli& cli);
void add_account_commands(Cli& cli);
void add_telemetry_commands(Cli& cli);
void add_security_commands(Cli& cli);
void add_diag_command(Cli& cli);
void add_zone_commands(Cli& cli);
void add_firmware_commands(Cli& cli);
void add_rollout_commands(Cli& cli);
void add_ops_commands(Cli& cli);  // backup, health (telemetry hourly: add_telemetry_commands)
// The telemetry group, for the operations' `telemetry hourly`.
void add_hourly_command(Cli& cli, CLI::App& telemetry);

}  // namespace rs1ctl
