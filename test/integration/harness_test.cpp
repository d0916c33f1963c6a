// The harness itself: the broker it starts really runs the built plugin
// (instrumented under RS1_SANITIZE), as the test's own user, and stops
// cleanly.
#include "harness.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

using namespace rs1;
using namespace rs1::it;

namespace {

std::string proc_file(pid_t pid, const char* name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

TEST_CASE("harness: mosquitto runs the built plugin as the test's user and stops on SIGTERM",
          "[harness]") {
  BrokerRunner broker;
  REQUIRE(broker.running());
  CHECK(contains(broker.log(), "rs1: serving"));

  const std::string maps = proc_file(broker.pid(), "maps");
  CHECK(contains(maps, "rs1_plugin.so"));
#ifdef RS1_ASAN_RUNTIME
  // The instrumented plugin only works with the runtime preloaded.
  CHECK(contains(maps, "libasan"));
#endif
#ifdef RS1_TSAN_RUNTIME
  CHECK(contains(maps, "libtsan"));
#endif

  // The harness keeps the current user: as root only through `user root`.
  const std::string status = proc_file(broker.pid(), "status");
  CHECK(contains(status, "\nUid:\t" + std::to_string(geteuid()) + "\t"));
  CHECK(contains(broker.conf(), "\nuser root\n") == (geteuid() == 0));

  // And the plugin does its job: a login and a stored row.
  Fleet fleet(broker.db_path());
  Device dev = fleet.add_device("dev-a");
  auto client = connect_device(broker, dev);
  REQUIRE(writer_barrier(*client, fleet, dev.id));
  client->disconnect();

  ExitStatus st = broker.stop();
  CHECK(st.exited);
  CHECK(st.code == 0);
  CHECK(contains(broker.log(), "rs1: stopped"));
}

TEST_CASE("harness: an exception in the plugin is a log line, not a crash", "[harness]") {
  // Under RS1_SANITIZE this is the case that needs libstdc++ preloaded next
  // to the ASan runtime: the option parser throws inside mosquitto.
  BrokerRunner broker(opts({{"ingest_flush_ms", "soon"}}), BrokerRunner::Start::later);
  ExitStatus st = broker.start_expecting_failure();
  INFO(broker.log());
  CHECK(st.exited);
  CHECK(contains(broker.log(), "rs1: cannot start: plugin_opt_ingest_flush_ms"));
}
