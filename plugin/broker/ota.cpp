// OTA glue (SPEC §7): the signing key file at start, the rollout engine fed
// with device events and run each TICK, its triggers signed and queued as
// downlinks (sent once the device's session subscribed to ota/trigger), its
// writes handed to the ingest writer, rs1ctl's changes taken from the
// change feed, the key file watched for a rollover (a job on the
// operations module's light thread). The rules are all in
// features/ota/rollout.cpp.
#include <algorithm>
#include <ctime>

#include "broker/broker.hpp"
#include "broker/ops.hpp"
#include "documents/ota.hpp"

namespace rs1 {
namespace {

// Triggers one TICK signs and queues (a few µs each): a stage of 10,000
// devices goes out over 20 TICKs, mosquitto delivering one batch before the
// next, never in one long stall of the broker thread (0.3 s in one TICK).
constexpr std::size_t kTriggersPerTick = 500;

}  // namespace

void Broker::start_ota() {
  const std::string& key_file = options_.ota.signing_key_file;
  const std::optional<KeyFileStamp> read_at = key_file_stamp(key_file);
  try {
    signing_keys_ = ensure_key_file(key_file);
  } catch (const std::exception& e) {
    throw std::runtime_error(e.what());
  }
  key_set_ = std::make_shared<SigningKeySet>(signing_keys_);
  key_watch_ = std::make_unique<KeyFileWatch>(key_file, signing_keys_, read_at);
  key_file_refused_ = &registry_.gauge(
      "rs1_signing_key_file_refused",
      "1 while the signing key file, changed since it was read, cannot be used (the keys in use "
      "stay).");
  // Rollouts that were running or paused when the broker stopped go on.
  const std::int64_t now_ms = static_cast<std::int64_t>(std::time(nullptr)) * 1000;
  EngineOutput out;
  for (auto& r : feed_db_->rollouts().active()) rollouts_.load(std::move(r), now_ms, out);
  // Devices deleted while the broker was down: as if deleted now.
  for (const auto& id : rollouts_.device_ids()) {
    if (!directory_.device(id)) rollouts_.on_removed(id, now_ms / 1000, out);
  }
  take_in_provisioned(now_ms / 1000, out);
  carry_out(out, now_ms / 1000);
  feed_->on("rollout", {[this](const std::vector<std::string>& ids) { post_rollouts(ids, false); },
                        [this] { post_rollouts({}, true); }});
}

// Key rollover without a restart: the file is looked at every 2 s, on the
// operations module's light thread. Added once start_ota has set up what
// the job uses, before that thread starts.
void Broker::add_key_file_watch(OpsRuntime& ops) {
  ops.add_light_job("signing_key_file", Schedule::every(std::chrono::seconds(2)),
                    [this](std::int64_t) { watch_key_file(); });
}

// On the operations module's light thread: the HTTP listener verifies with
// the new keys at once; the broker thread signs with them from its next
// TICK.
void Broker::watch_key_file() {
  KeyFileWatch::Result r = key_watch_->check();
  if (r.outcome == KeyFileWatch::Result::Outcome::loaded) {
    key_set_->set(r.keys);
    key_file_refused_->store(0, std::memory_order_relaxed);
    log_(LogLevel::info, "rs1: signing keys reloaded from " + options_.ota.signing_key_file + ": " +
                             std::to_string(r.keys.size()) + " key(s), " + r.keys.front().kid +
                             " signs");
    mailbox_.post(SigningKeysChanged{std::move(r.keys)});
  } else if (r.outcome == KeyFileWatch::Result::Outcome::refused) {
    key_file_refused_->store(1, std::memory_order_relaxed);
    log_(LogLevel::warning, "rs1: " + r.error + "; the keys in use stay");
  }
}

// An `all` rollout holds every provisioned device: those added while the
// broker was down (at start), or after rs1ctl read the device list (at load).
void Broker::take_in_provisioned(std::int64_t now_s, EngineOutput& out) {
  if (!rollouts_.holds_all()) return;
  std::vector<std::string> ids = directory_.device_ids();
  std::sort(ids.begin(), ids.end());
  rollouts_.take_in(ids, now_s, out);
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
      out, kTriggersPerTick);
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

// The `rollout` event of each rollout this output changed: its status
// document (SPEC §8, without devices) while the engine holds it; a rollout
// it let go (completed, cancelled) has its progress row only, so its event
// has that row's fields.
std::vector<std::string> Broker::rollout_events(const EngineOutput& out) const {
  std::vector<std::int64_t> ids;
  for (const auto& p : out.rollouts) ids.push_back(p.rollout_id);
  for (const auto& d : out.devices) ids.push_back(d.rollout_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<std::string> events;
  for (std::int64_t id : ids) {
    if (const Rollout* r = rollouts_.find(id)) {
      events.push_back(doc::dump_json(doc::rollout_status_json(*r, count_statuses(*r), false), -1));
      continue;
    }
    for (const auto& p : out.rollouts) {
      if (p.rollout_id != id) continue;
      doc::Json j = {{"rollout_id", p.rollout_id},
                     {"state", state_name(p.state)},
                     {"reason", p.reason ? doc::Json(*p.reason) : doc::Json(nullptr)},
                     {"stage", p.stage + 1},
                     {"updated_at", p.updated_at}};
      events.push_back(doc::dump_json(j, -1));
      break;
    }
  }
  return events;
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
    d.payload = trigger_payload(
        t, signed_firmware_url(options_.ota.ota_base_url, key, t.sha256, t.device_id, expires),
        expires);
    downlinks_.enqueue(t.device_id, std::move(d));
  }
  std::vector<std::string> events;  // rollout status documents, when someone listens
  if (events_->active()) events = rollout_events(out);
  if (!out.rollouts.empty() || !out.devices.empty()) {
    writer_->add(std::move(out.rollouts), std::move(out.devices));
  }
  for (auto& e : events) events_->publish(EventKind::rollout, {}, [&] { return std::move(e); });
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
