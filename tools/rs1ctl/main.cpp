// rs1ctl: the operator CLI of SPEC §8.
#include <ctime>

#include "cli.hpp"
#include "commands.hpp"

int main(int argc, char** argv) {
  rs1ctl::Cli cli(static_cast<std::int64_t>(std::time(nullptr)));
  rs1ctl::add_init_command(cli);
  rs1ctl::add_device_commands(cli);
  rs1ctl::add_account_commands(cli);
  rs1ctl::add_telemetry_commands(cli);
  rs1ctl::add_security_commands(cli);
  rs1ctl::add_diag_command(cli);
  rs1ctl::add_zone_commands(cli);
  rs1ctl::add_firmware_commands(cli);
  rs1ctl::add_rollout_commands(cli);
  rs1ctl::add_ops_commands(cli);
  return cli.run(argc, argv);
}
