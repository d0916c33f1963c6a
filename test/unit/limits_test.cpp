// Abuse limits: the per-device message rate (rate_limit_per_min), repeated
// login failures per address (auth_fail_limit, auth_ban_s), and the throttle
// on security-log entries. Time is passed in; nothing sleeps.
#include "core/limits.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "unit_support.hpp"

using namespace rs1;
using Verdict = RateLimiter::Verdict;

namespace {

const char* name(Verdict v) {
  switch (v) {
    case Verdict::allow:
      return "allow";
    case Verdict::drop_first:
      return "drop_first";
    case Verdict::drop:
      return "drop";
  }
  return "?";
}

}  // namespace

TEST_CASE("limits: 600 messages a minute, then drops until the window ends", "[limits]") {
  RateLimiter limiter(600);
  const std::int64_t t0 = 1'000'000;
  int allowed = 0;
  for (int i = 0; i < 600; ++i) {
    if (limiter.check("dev-a", t0 + i * 10) == Verdict::allow) ++allowed;
  }
  CHECK(allowed == 600);
  CHECK(name(limiter.check("dev-a", t0 + 6000)) == std::string("drop_first"));  // 601st
  CHECK(name(limiter.check("dev-a", t0 + 6001)) == std::string("drop"));        // 602nd
  CHECK(name(limiter.check("dev-a", t0 + 59'999)) == std::string("drop"));
  // Other devices have their own budget.
  CHECK(name(limiter.check("dev-b", t0 + 59'999)) == std::string("allow"));
  // A new window starts 60 s after the first message of the last one.
  CHECK(name(limiter.check("dev-a", t0 + 60'000)) == std::string("allow"));
  allowed = 1;
  for (int i = 1; i < 600; ++i)
    allowed += limiter.check("dev-a", t0 + 60'000 + i) == Verdict::allow;
  CHECK(allowed == 600);
  CHECK(name(limiter.check("dev-a", t0 + 60'600)) == std::string("drop_first"));
  CHECK(limiter.tracked() == 2);
  limiter.forget("dev-a");
  CHECK(limiter.tracked() == 1);
  // Forgotten: a fresh budget.
  CHECK(name(limiter.check("dev-a", t0 + 60'601)) == std::string("allow"));
}

TEST_CASE("limits: a limit of 1 message a minute", "[limits]") {
  RateLimiter limiter(1);
  CHECK(name(limiter.check("d", 0)) == std::string("allow"));
  CHECK(name(limiter.check("d", 1)) == std::string("drop_first"));
  CHECK(name(limiter.check("d", 2)) == std::string("drop"));
  CHECK(name(limiter.check("d", 59'999)) == std::string("drop"));
  CHECK(name(limiter.check("d", 60'000)) == std::string("allow"));
}

TEST_CASE("limits: rate limit 0 means unlimited", "[limits]") {
  RateLimiter limiter(0);
  int allowed = 0;
  for (int i = 0; i < 100'000; ++i) allowed += limiter.check("dev-a", 5) == Verdict::allow;
  CHECK(allowed == 100'000);
  CHECK(limiter.tracked() == 0);  // nothing is kept per device
}

TEST_CASE("limits: auth failures raise the event exactly once per window", "[limits]") {
  AuthFailureTracker tracker(5, 0);
  const std::int64_t t0 = 1'700'000'000;
  for (int i = 1; i <= 4; ++i) {
    CAPTURE(i);
    CHECK_FALSE(tracker.record_failure("10.0.0.1", t0 + i));
    CHECK(tracker.failures("10.0.0.1", t0 + i) == i);
  }
  CHECK(tracker.record_failure("10.0.0.1", t0 + 5));  // the 5th: auth_failure_repeated
  for (int i = 6; i <= 20; ++i) CHECK_FALSE(tracker.record_failure("10.0.0.1", t0 + 10));
  // Another address counts on its own.
  CHECK_FALSE(tracker.record_failure("10.0.0.2", t0 + 10));
  CHECK(tracker.failures("10.0.0.2", t0 + 10) == 1);
  // No ban configured (auth_ban_s 0): never banned.
  CHECK_FALSE(tracker.is_banned("10.0.0.1", t0 + 10));
  // The window started at t0 + 1 ends 60 s later; then a new one counts from 1.
  CHECK(tracker.failures("10.0.0.1", t0 + 60) == 20);
  CHECK(tracker.failures("10.0.0.1", t0 + 61) == 0);
  for (int i = 1; i <= 4; ++i) CHECK_FALSE(tracker.record_failure("10.0.0.1", t0 + 61));
  CHECK(tracker.record_failure("10.0.0.1", t0 + 62));
}

TEST_CASE("limits: failures spread over more than a minute never add up", "[limits]") {
  AuthFailureTracker tracker(3, 600);
  const std::int64_t t0 = 1000;
  CHECK_FALSE(tracker.record_failure("a", t0));
  CHECK_FALSE(tracker.record_failure("a", t0 + 30));
  CHECK_FALSE(tracker.record_failure("a", t0 + 60));  // new window: 1
  CHECK_FALSE(tracker.record_failure("a", t0 + 90));  // 2
  CHECK_FALSE(tracker.is_banned("a", t0 + 90));
  CHECK(tracker.record_failure("a", t0 + 119));  // 3 within [t0+60, t0+120)
  CHECK(tracker.is_banned("a", t0 + 119));
}

TEST_CASE("limits: a ban when auth_ban_s > 0, and its expiry", "[limits]") {
  AuthFailureTracker tracker(3, 300);
  const std::int64_t t0 = 5000;
  tracker.record_failure("10.0.0.1", t0);
  tracker.record_failure("10.0.0.1", t0 + 1);
  CHECK_FALSE(tracker.is_banned("10.0.0.1", t0 + 1));
  CHECK(tracker.record_failure("10.0.0.1", t0 + 2));
  CHECK(tracker.is_banned("10.0.0.1", t0 + 2));
  CHECK(tracker.is_banned("10.0.0.1", t0 + 2 + 299));
  CHECK_FALSE(tracker.is_banned("10.0.0.1", t0 + 2 + 300));
  CHECK_FALSE(tracker.is_banned("10.0.0.2", t0 + 2));
  // Failing on while banned extends the ban from the latest failure.
  tracker.record_failure("10.0.0.1", t0 + 50);
  CHECK(tracker.is_banned("10.0.0.1", t0 + 50 + 299));
  CHECK_FALSE(tracker.is_banned("10.0.0.1", t0 + 50 + 300));
}

TEST_CASE("limits: expire drops idle entries but keeps bans", "[limits]") {
  AuthFailureTracker tracker(2, 600);
  tracker.record_failure("banned", 0);
  tracker.record_failure("banned", 1);
  tracker.record_failure("idle", 0);
  tracker.expire(100);
  // A minute later the idle address starts again from one failure, and the
  // housekeeping did not lift the ban that is still running.
  CHECK(tracker.failures("idle", 100) == 0);
  CHECK_FALSE(tracker.record_failure("idle", 100));
  CHECK(tracker.is_banned("banned", 100));
  tracker.expire(601);
  CHECK_FALSE(tracker.is_banned("banned", 601));
}

TEST_CASE("limits: LogThrottle admits one entry per interval and counts the rest", "[limits]") {
  LogThrottle throttle(60);
  std::int64_t suppressed = -1;
  CHECK(throttle.admit("dev-a", 1000, suppressed));
  CHECK(suppressed == 0);
  for (int i = 0; i < 7; ++i) CHECK_FALSE(throttle.admit("dev-a", 1000 + i, suppressed));
  CHECK_FALSE(throttle.admit("dev-a", 1059, suppressed));
  // Another key is not held back by dev-a.
  CHECK(throttle.admit("dev-b", 1001, suppressed));
  CHECK(suppressed == 0);
  // After the interval: admitted, reporting the 8 held back.
  CHECK(throttle.admit("dev-a", 1060, suppressed));
  CHECK(suppressed == 8);
  CHECK_FALSE(throttle.admit("dev-a", 1061, suppressed));
  CHECK(throttle.admit("dev-a", 1120, suppressed));
  CHECK(suppressed == 1);
}

TEST_CASE("limits: LogThrottle expire forgets quiet keys", "[limits]") {
  LogThrottle throttle(60);
  std::int64_t suppressed = 0;
  CHECK(throttle.admit("k", 0, suppressed));
  CHECK_FALSE(throttle.admit("k", 10, suppressed));
  throttle.expire(119);  // not yet idle for two intervals
  CHECK_FALSE(throttle.admit("k", 20, suppressed));
  throttle.expire(1000);
  // Forgotten with its count: the next entry is admitted at once.
  CHECK(throttle.admit("k", 1000, suppressed));
  CHECK(suppressed == 0);
}
