// The integration tests' main: Catch2's runner plus a listener that tells the
// harness when a test has failed (BrokerRunner then keeps its directory).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <csignal>

#include "harness.hpp"

namespace {

struct FailureTracker : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    rs1::it::current_test_failed() = false;
    TestEventListenerBase::testCaseStarting(info);
  }
  bool assertionEnded(Catch::AssertionStats const& stats) override {
    if (!stats.assertionResult.isOk()) rs1::it::current_test_failed() = true;
    return true;
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(FailureTracker)

int main(int argc, char* argv[]) {
  // A write to a socket the broker has closed must be an error, not death.
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
