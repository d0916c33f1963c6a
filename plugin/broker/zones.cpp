// Zone configs (SPEC §5 config/update and config/status, §6): carries out
// features/zones' decisions. The change feed reads a device's desired
// version; the broker owes it to the device until the device answers that
// version, and queues it as a retained config/update downlink (one per
// device: a newer version replaces the one waiting), sent once the
// device's current session has subscribed. Each new subscription to
// config/update gets what is still owed, so a device that reconnects after
// a broker restart without persistence still receives it. Reports are
// recorded through the ingest writer.
#include <ctime>

#include "broker/broker.hpp"

namespace rs1 {
namespace {

// One config/update waits per device: a newer version takes its place.
const char* const kZoneDownlinkKey = "config";

}  // namespace

// On the change feed's thread: read the desired versions with the feed's
// own connection and hand them over.
void Broker::post_zone_changes(const std::vector<std::string>& devices, bool all) {
  ZonesChanged changed;
  changed.complete = all;
  if (all) {
    changed.desired = feed_db_->zones().pending();
  } else {
    for (const auto& id : devices) {
      if (auto d = feed_db_->zones().desired(id)) {
        changed.desired.push_back(std::move(*d));
      } else {
        changed.cleared.push_back(id);
      }
    }
  }
  mailbox_.post(std::move(changed));
}

void Broker::apply_zones(ZonesChanged changed) {
  if (changed.complete) zones_owed_.clear();
  for (const auto& id : changed.cleared) zones_owed_.erase(id);
  for (auto& d : changed.desired) owe_zone(std::move(d));
}

void Broker::owe_zone(ZoneDesired desired) {
  if (desired.status != "pending") {
    // Answered already (by this broker's writer or before a restart).
    zones_owed_.erase(desired.device_id);
    return;
  }
  if (!directory_.device(desired.device_id)) return;  // deleted meanwhile
  queue_zone(desired);
  const std::string id = desired.device_id;
  zones_owed_[id] = std::move(desired);
}

void Broker::queue_zone(const ZoneDesired& desired) {
  Downlink d;
  d.kind = DeviceTopic::config_update;
  d.key = kZoneDownlinkKey;
  d.payload = zone_update_payload(desired.version, desired.config);
  d.retain = true;
  downlinks_.enqueue(desired.device_id, std::move(d));
}

// A session of the device subscribed to config/update (or came back with
// a persistent session that had): what it still owes goes out again.
void Broker::zone_subscribed(const std::string& device_id) {
  auto it = zones_owed_.find(device_id);
  if (it != zones_owed_.end()) queue_zone(it->second);
}

// A device's config/status, already checked against its schema. False
// when the writer cannot take it (the message is dropped as queue_full).
bool Broker::zone_status(const Session& session, const ConfigStatusReport& report,
                         std::int64_t now_s) {
  if (!writer_->add(zone_ack_of(session.identity, report, now_s))) return false;
  auto it = zones_owed_.find(session.identity);
  if (it != zones_owed_.end() && zone_ack_settles(it->second.version, report)) {
    zones_owed_.erase(it);
  }
  return true;
}

}  // namespace rs1
