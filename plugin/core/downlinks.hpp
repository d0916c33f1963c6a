// Downlinks (SPEC §5): what waits for each device — diagnostics requests now,
// OTA triggers and zone configs next — and the gate that lets one go only
// once the device's current session has subscribed to its topic (a message
// sent before the SUBSCRIBE would be lost). Pure: the broker glue records
// logins, subscriptions and disconnects, and publishes what take_ready()
// returns. Nothing costs anything per TICK while nothing is ready.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/topic_rules.hpp"

namespace rs1 {

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

  // A session of the device started: nothing is subscribed in it yet,
  // unless `persistent` (clean session off) keeps the earlier session's
  // subscriptions, which Mosquitto restores.
  void session_started(const std::string& device_id, bool persistent);
  // The current session subscribed to one of the device's downlink topics.
  void subscribed(const std::string& device_id, DeviceTopic kind);
  // The device has no session any more (its subscriptions survive only for
  // a persistent session, which keeps them for the next one).
  void session_ended(const std::string& device_id, bool persistent);

  // Everything that may go now, oldest first per device and kind; expired
  // downlinks are dropped (counted in expired()). O(1) when nothing is ready.
  std::vector<OutgoingDownlink> take_ready(std::int64_t now_s);
  // Drops expired downlinks of devices that are not ready (call now and then).
  void expire(std::int64_t now_s);

  std::size_t waiting() const;
  std::uint64_t expired() const { return expired_; }

 private:
  struct DeviceState {
    bool online = false;
    std::set<DeviceTopic> subscribed;
    std::map<DeviceTopic, std::deque<Downlink>> waiting;
  };
  void mark_ready_if_due(const std::string& device_id, DeviceState& state);

  std::size_t max_per_kind_;
  std::unordered_map<std::string, DeviceState> devices_;
  std::set<std::string> ready_;  // devices with something sendable now
  std::uint64_t expired_ = 0;
};

// "opticworks/<id>/diag/request" and the other downlink topics.
std::string downlink_topic(const std::string& device_id, DeviceTopic kind);

}  // namespace rs1
