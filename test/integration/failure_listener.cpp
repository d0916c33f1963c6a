// A Catch2 listener that tells the harness when a test has failed
// (BrokerRunner then keeps its directory). Catch2's main() is
// test/catch_impl.cpp. The reporter interfaces must be asked for before
// Catch2 is included, so this file takes no precompiled header.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

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
