// rs1-sim: a simulated RS-1 fleet (`fleet`) and the side-by-side benchmark
// against a vanilla mosquitto (`bench`).
#include <CLI/CLI.hpp>

#include "rs1-sim/bench.hpp"
#include "rs1-sim/command.hpp"
#include "rs1-sim/fleet.hpp"

int main(int argc, char** argv) {
  CLI::App app{"rs1-sim: RS-1 device fleet simulator and load benchmark"};
  app.require_subcommand(1);
  rs1::sim::add_fleet_command(app);
  rs1::sim::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return rs1::sim::exit_status();
}
