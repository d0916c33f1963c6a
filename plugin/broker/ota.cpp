// OTA glue (SPEC §7): the signing key file at start, the rollout engine fed
// with device events and run each TICK, its triggers signed and queued as
// downlinks (sent once the device's session subscribed to ota/trigger), its
// writes handed to the ingest writer, rs1ctl's changes taken from the
// change feed. The rules are all in features/ota/rollout.cpp.
#include <ctime>
#include <nlohmann/json.hpp>

#include "broker/broker.hpp"

namespace rs1 {

void Broker::start_ota() {
  try {
    signing_keys_ = ensure_key_file(options_.ota.signing_key_file);
  } catch (const std::exception& e) {
    throw std::runtime_error(e.what());
  }
  // Rollouts that were running or paused when the broker stopped go on.
  const std::int64_t now_ms = static_cast<std::int64_t>(std::time(nullptr)) * 1000;
  EngineOutput out;
  for (auto& r : feed_db_->rollouts().active()) rollouts_.load(std::move(r), now_ms, out);
  carry_out(out, now_ms / 1000);
  feed_->on("rollout", {[this](const std::vector<std::string>& ids) { post_rollouts(ids, false); },
                        [this] { post_rollouts({}, true); }});
}

// On the change feed's thread.
void Broker::post_rollouts(const std::vector<std::string>& ids, bool all) {
  RolloutsLoaded loaded;
  if (all) {
    loaded.rollouts = feed_db_->rollouts().active();
  } else {
    for (const auto& key : ids) {
      char* end = nullptr;
      const long long id = std::strtoll(key.c_str(), &end, 10);
      if (end == key.c_str() || *end != '\0') continue;
      if (auto r = feed_db_->rollouts().get(id)) loaded.rollouts.push_back(std::move(*r));
    }
  }
  if (!loaded.rollouts.empty()) mailbox_.post(std::move(loaded));
}

void Broker::run_rollouts(std::int64_t now_ms) {
  if (rollouts_.active_count() == 0 && now_ms < next_ota_gauges_ms_) return;
  EngineOutput out;
  rollouts_.tick(
      now_ms,
      [this](const std::string& id) {
        const Session* s = sessions_.current(id);
        return s && (s->subscribed & downlink_bit(DeviceTopic::ota_trigger));
      },
      out);
  carry_out(out, now_ms / 1000);
  if (now_ms >= next_ota_gauges_ms_) {
    next_ota_gauges_ms_ = now_ms + 1000;
    const RolloutCounts counts = rollouts_.running_counts();
    for (std::size_t i = 0; i < counts.size(); ++i) {
      metrics_.ota_rollout_devices[i]->store(static_cast<std::uint64_t>(counts[i]),
                                             std::memory_order_relaxed);
    }
  }
}

void Broker::carry_out(EngineOutput& out, std::int64_t now_s) {
  if (out.empty()) return;
  const SigningKey& key = signing_keys_.front();  // the first key signs
  const std::int64_t expires = now_s + options_.ota.url_ttl_s;
  for (const auto& t : out.triggers) {
    if (!directory_.device(t.device_id)) continue;  // deleted meanwhile
    Downlink d;
    d.kind = DeviceTopic::ota_trigger;
    d.key = std::to_string(t.rollout_id);
    d.expires_at_s = expires;
    d.payload = nlohmann::json{
        {"rollout_id", t.rollout_id},
        {"version", t.version},
        {"url",
         signed_firmware_url(options_.ota.ota_base_url, key, t.sha256, t.device_id, expires)},
        {"sha256", t.sha256},
        {"size", t.size},
        {"expires_at",
         expires}}.dump();
    downlinks_.enqueue(t.device_id, std::move(d));
  }
  if (!out.rollouts.empty() || !out.devices.empty()) {
    writer_->add(std::move(out.rollouts), std::move(out.devices));
  }
  for (const auto& line : out.log) broker_log(LogLevel::info, line);
  out = EngineOutput{};
}

void Broker::ota_uplink(const std::string& device_id, const std::optional<std::string>& version,
                        const OtaStatusReport* status, std::int64_t now_s) {
  if (rollouts_.active_count() == 0) return;
  EngineOutput out;
  if (status) {
    rollouts_.on_status(device_id, *status, now_s, out);
  } else {
    rollouts_.on_state(device_id, version, now_s, out);
  }
  carry_out(out, now_s);
}

void Broker::ota_directory_changed(const std::vector<std::string>& added,
                                   const std::vector<std::string>& removed) {
  if (rollouts_.active_count() == 0) return;
  const std::int64_t now_s = std::time(nullptr);
  EngineOutput out;
  for (const auto& id : added) rollouts_.on_provisioned(id, now_s, out);
  for (const auto& id : removed) rollouts_.on_removed(id, now_s, out);
  carry_out(out, now_s);
}

}  // namespace rs1
