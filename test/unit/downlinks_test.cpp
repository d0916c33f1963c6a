// The downlink gate of SPEC §5: a waiting downlink goes only once the
// device's current session has subscribed to its topic; a reconnect is a
// new session; expired downlinks never go.
#include "core/downlinks.hpp"

#include <catch2/catch.hpp>

using namespace rs1;

namespace {

Downlink diag(const std::string& key, std::int64_t expires = 0) {
  Downlink d;
  d.kind = DeviceTopic::diag_request;
  d.key = key;
  d.payload = R"({"request_id":")" + key + R"(","what":[]})";
  d.expires_at_s = expires;
  return d;
}

std::vector<std::string> keys(const std::vector<OutgoingDownlink>& out) {
  std::vector<std::string> k;
  for (const auto& o : out) k.push_back(o.downlink.key);
  return k;
}

}  // namespace

TEST_CASE("downlinks: held while offline, sent after login and subscribe", "[downlinks]") {
  Downlinks d;
  d.enqueue("dev-a", diag("r1"));
  CHECK(d.take_ready(100).empty());  // offline
  d.session_started("dev-a", false);
  CHECK(d.take_ready(100).empty());  // logged in, not subscribed
  d.subscribed("dev-a", DeviceTopic::ota_trigger);
  CHECK(d.take_ready(100).empty());  // another topic
  d.subscribed("dev-a", DeviceTopic::diag_request);
  auto out = d.take_ready(100);
  REQUIRE(out.size() == 1);
  CHECK(out[0].topic == "opticworks/dev-a/diag/request");
  CHECK(out[0].device_id == "dev-a");
  CHECK(out[0].downlink.key == "r1");
  CHECK(d.take_ready(100).empty());  // sent once
  CHECK(d.waiting() == 0);

  // While subscribed, a new one is ready at once.
  d.enqueue("dev-a", diag("r2"));
  CHECK(keys(d.take_ready(100)) == std::vector<std::string>{"r2"});
}

TEST_CASE("downlinks: a reconnect is a new session", "[downlinks]") {
  Downlinks d;
  d.session_started("dev-a", false);
  d.subscribed("dev-a", DeviceTopic::diag_request);
  d.session_ended("dev-a", false);
  d.enqueue("dev-a", diag("r1"));
  d.session_started("dev-a", false);
  CHECK(d.take_ready(100).empty());  // the old session's SUBSCRIBE does not count
  d.subscribed("dev-a", DeviceTopic::diag_request);
  CHECK(keys(d.take_ready(100)) == std::vector<std::string>{"r1"});
}

TEST_CASE("downlinks: a persistent session keeps its subscriptions", "[downlinks]") {
  Downlinks d;
  d.session_started("dev-a", true);
  d.subscribed("dev-a", DeviceTopic::diag_request);
  d.session_ended("dev-a", true);
  d.enqueue("dev-a", diag("r1"));
  CHECK(d.take_ready(100).empty());  // offline
  d.session_started("dev-a", true);  // Mosquitto restores the subscription
  CHECK(keys(d.take_ready(100)) == std::vector<std::string>{"r1"});
}

TEST_CASE("downlinks: expiry, the per-kind bound and replacement by key", "[downlinks]") {
  Downlinks d(3);
  d.enqueue("dev-a", diag("old", 50));
  d.enqueue("dev-a", diag("r1", 500));
  d.enqueue("dev-a", diag("r2"));
  auto pushed = d.enqueue("dev-a", diag("r3"));
  REQUIRE(pushed);
  CHECK(pushed->key == "old");
  CHECK_FALSE(d.enqueue("dev-a", diag("r2")));  // same key: replaced, nothing pushed out
  CHECK(d.waiting() == 3);
  d.expire(600);  // r1 expired
  CHECK(d.expired() == 1);
  d.session_started("dev-a", false);
  d.subscribed("dev-a", DeviceTopic::diag_request);
  CHECK(keys(d.take_ready(600)) == std::vector<std::string>{"r2", "r3"});

  d.enqueue("dev-b", diag("late", 700));
  d.session_started("dev-b", false);
  d.subscribed("dev-b", DeviceTopic::diag_request);
  CHECK(d.take_ready(800).empty());  // expired before it could go
  CHECK(d.expired() == 2);
  d.enqueue("dev-c", diag("x"));
  d.forget("dev-c");
  CHECK(d.waiting() == 0);
}
