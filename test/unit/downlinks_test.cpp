// The downlink gate of SPEC §5: a waiting downlink goes only once the
// device's current session has subscribed to its topic; a reconnect is a
// new session; expired downlinks never go.
#include "core/downlinks.hpp"

#include <catch2/catch.hpp>
#include <map>

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

// The sessions' subscriptions as the glue keeps them (absent: offline).
struct Subs {
  std::map<std::string, DownlinkMask> masks;
  std::function<DownlinkMask(const std::string&)> fn() {
    return [this](const std::string& id) {
      auto it = masks.find(id);
      return it == masks.end() ? DownlinkMask{0} : it->second;
    };
  }
};

const DownlinkMask kDiag = downlink_bit(DeviceTopic::diag_request);

}  // namespace

TEST_CASE("downlinks: held while offline, sent after login and subscribe", "[downlinks]") {
  Downlinks d;
  Subs subs;
  d.enqueue("dev-a", diag("r1"));
  CHECK(d.take_ready(100, subs.fn()).empty());  // offline
  subs.masks["dev-a"] = 0;                       // logged in, not subscribed
  CHECK(d.take_ready(100, subs.fn()).empty());
  subs.masks["dev-a"] = downlink_bit(DeviceTopic::ota_trigger);  // another topic
  d.wake("dev-a");
  CHECK(d.take_ready(100, subs.fn()).empty());
  subs.masks["dev-a"] |= kDiag;
  d.wake("dev-a");
  auto out = d.take_ready(100, subs.fn());
  REQUIRE(out.size() == 1);
  CHECK(out[0].topic == "opticworks/dev-a/diag/request");
  CHECK(out[0].device_id == "dev-a");
  CHECK(out[0].downlink.key == "r1");
  d.wake("dev-a");
  CHECK(d.take_ready(100, subs.fn()).empty());  // sent once
  CHECK(d.waiting() == 0);

  // While subscribed, a new one is ready at once.
  d.enqueue("dev-a", diag("r2"));
  CHECK(keys(d.take_ready(100, subs.fn())) == std::vector<std::string>{"r2"});
}

TEST_CASE("downlinks: nothing is kept for a device with nothing waiting", "[downlinks]") {
  Downlinks d;
  Subs subs;
  subs.masks["dev-a"] = kDiag;
  d.wake("dev-a");  // a subscription alone costs no memory here
  CHECK(d.take_ready(100, subs.fn()).empty());
  CHECK(d.waiting() == 0);
}

TEST_CASE("downlinks: a persistent session's subscriptions are kept while it is away",
          "[downlinks]") {
  Downlinks d;
  d.keep_persistent("dev-a", kDiag);
  CHECK(d.take_persistent("dev-a") == kDiag);
  CHECK(d.take_persistent("dev-a") == 0);  // taken once, by the session that comes back
  d.keep_persistent("dev-b", 0);
  CHECK(d.take_persistent("dev-b") == 0);
}

TEST_CASE("downlinks: expiry, the per-kind bound and replacement by key", "[downlinks]") {
  Downlinks d(3);
  Subs subs;
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
  subs.masks["dev-a"] = kDiag;
  d.wake("dev-a");
  CHECK(keys(d.take_ready(600, subs.fn())) == std::vector<std::string>{"r2", "r3"});

  d.enqueue("dev-b", diag("late", 700));
  subs.masks["dev-b"] = kDiag;
  CHECK(d.take_ready(800, subs.fn()).empty());  // expired before it could go
  CHECK(d.expired() == 2);
  d.enqueue("dev-c", diag("x"));
  d.forget("dev-c");
  CHECK(d.waiting() == 0);
}
