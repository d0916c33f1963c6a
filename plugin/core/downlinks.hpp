// Downlinks (SPEC §5): what waits for each device — diagnostics requests,
// OTA triggers and zone configs — and the gate that lets one go only
// once the device's current session has subscribed to its topic (a message
// sent before the SUBSCRIBE would be lost). Pure: the glue keeps each
// session's subscriptions as a DownlinkMask in the session itself (no
// memory per device unless something waits), wakes a device when its
// session subscribes, and publishes what take_ready() returns. Nothing
// costs anything per TICK while nothing is ready.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/topic_rules.hpp"

namespace rs1 {

// The downlink topics a session has subscribed to, one bit per kind.
using DownlinkMask = std::uint8_t;
DownlinkMask downlink_bit(DeviceTopic kind);  // 0 for an uplink

struct Downlink {
  DeviceTopic kind = DeviceTopic::diag_request;  // ota_trigger | config_update | diag_request
  std::string key;                               // request_id, rollout id, …: one of a kind per key
  std::string payload;
  bool retain = false;
  std::int64_t expires_at_s = 0;  // 0: never
};

// A downlink to publish now, on the device's own topic.
struct OutgoingDownlink {
  std::string device_id;
  std::string topic;
  Downlink downlink;
};

class Downlinks {
 public:
  // At most this many of one kind wait for one device; a newer one pushes
  // out the oldest (and is reported by enqueue()).
  explicit Downlinks(std::size_t max_per_kind = 16) : max_per_kind_(max_per_kind) {}

  // Queues a downlink; a waiting one of the same kind and key is replaced.
  // Returns the downlink pushed out to make room, if any.
  std::optional<Downlink> enqueue(const std::string& device_id, Downlink downlink);
  // Drops what waits for a device (deleted).
  void forget(const std::string& device_id);
  // The device's session subscribed to a downlink topic, or a session began
  // with subscriptions: what waits for it may be ready.
  void wake(const std::string& device_id);

  // Everything that may go now, oldest first per device and kind, given each
  // woken device's current subscriptions (`subscriptions(id)`, 0 when it is
  // offline); expired downlinks are dropped (counted in expired()). O(1)
  // when nothing was woken.
  std::vector<OutgoingDownlink> take_ready(
      std::int64_t now_s, const std::function<DownlinkMask(const std::string&)>& subscriptions);
  // Drops expired downlinks (call now and then).
  void expire(std::int64_t now_s);

  // A persistent session (clean session off) keeps its subscriptions while
  // the device is away; Mosquitto restores them when it comes back.
  void keep_persistent(const std::string& device_id, DownlinkMask mask);
  DownlinkMask take_persistent(const std::string& device_id);

  std::size_t waiting() const;
  std::uint64_t expired() const { return expired_; }

 private:
  using Queues = std::map<DeviceTopic, std::deque<Downlink>>;

  std::size_t max_per_kind_;
  std::unordered_map<std::string, Queues> waiting_;  // only devices with something waiting
  std::set<std::string> woken_;
  std::unordered_map<std::string, DownlinkMask> persistent_;
  std::uint64_t expired_ = 0;
};

// "opticworks/<id>/diag/request" and the other downlink topics.
std::string downlink_topic(const std::string& device_id, DeviceTopic kind);

}  // namespace rs1
