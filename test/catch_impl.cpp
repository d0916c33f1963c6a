// Catch2's implementation and main(), compiled once for every test
// executable (the rs1_catch library).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <csignal>

int main(int argc, char* argv[]) {
  // A write to a socket a broker or server has closed must be an error, not death.
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
