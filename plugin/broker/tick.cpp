// TICK and DISCONNECT: presence, what other threads queued for this one
// (log lines, directory changes and the kicks they cause, diagnostics
// requests, zone versions, rollouts, signing keys, "changes applied"), the
// rollouts' next triggers, the downlinks that may go now, housekeeping.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <type_traits>

#include "broker/broker.hpp"

namespace rs1 {

void Broker::apply(DirectoryUpdate update, std::vector<std::string>& kick_clients,
                   std::vector<std::string>& kick_users) {
  std::vector<std::string> added;
  for (const auto& d : update.devices) {
    if (!directory_.device(d.device_id)) added.push_back(d.device_id);
  }
  DirectoryEffects fx = apply_update(directory_, sessions_, std::move(update));
  ota_directory_changed(added, fx.removed_devices);
  kick_clients.insert(kick_clients.end(), fx.kick_clients.begin(), fx.kick_clients.end());
  kick_users.insert(kick_users.end(), fx.kick_users.begin(), fx.kick_users.end());
  for (const auto& id : fx.removed_devices) {
    downlinks_.forget(id);
    zones_owed_.erase(id);
    clear_retained(id);
  }
}

// A deleted device leaves nothing behind for new subscribers: its retained
// downlink (config/update) and any retained uplink an older version kept.
void Broker::clear_retained(const std::string& device_id) {
  for (const char* suffix : {"state", "ota/status", "config/status", "config/update",
                             "ota/trigger", "diag/request"}) {
    const std::string topic = "opticworks/" + device_id + "/" + suffix;
    mosquitto_broker_publish_copy(nullptr, topic.c_str(), 0, nullptr, 0, true, nullptr);
  }
}

void Broker::queue_diag(DiagRequest request) {
  if (!directory_.device(request.device_id)) return;  // deleted meanwhile
  Downlink d;
  d.kind = DeviceTopic::diag_request;
  d.key = request.request_id;
  d.payload = diag_request_payload(request);
  d.expires_at_s = request.expires_at;
  if (auto pushed_out = downlinks_.enqueue(request.device_id, std::move(d))) {
    broker_log(LogLevel::warning, "rs1: diagnostics request " + pushed_out->key + " for " +
                                      request.device_id + " dropped: " +
                                      std::to_string(kDiagHeldPerDevice) + " newer ones wait");
  }
}

void Broker::send_downlinks(std::int64_t now_s) {
  const std::uint64_t expired_before = downlinks_.expired();
  auto subscriptions = [this](const std::string& id) -> DownlinkMask {
    const Session* s = sessions_.current(id);
    return s ? s->subscribed : 0;
  };
  for (auto& out : downlinks_.take_ready(now_s, subscriptions)) {
    const Downlink& d = out.downlink;
    // No target client id: the broker's READ check applies as to any message.
    int rc = mosquitto_broker_publish_copy(nullptr, out.topic.c_str(),
                                           static_cast<int>(d.payload.size()), d.payload.data(), 1,
                                           d.retain, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      broker_log(LogLevel::warning, "rs1: cannot publish " + out.topic + ": error " + std::to_string(rc));
      continue;
    }
    metrics_.downlinks_sent_total.fetch_add(1, std::memory_order_relaxed);
    if (d.kind == DeviceTopic::diag_request) writer_->add(DiagSent{d.key, now_s});
    if (d.kind == DeviceTopic::ota_trigger) {
      metrics_.ota_triggers_total.fetch_add(1, std::memory_order_relaxed);
    }
  }
  metrics_.downlinks_expired_total.fetch_add(downlinks_.expired() - expired_before,
                                             std::memory_order_relaxed);
}

int Broker::on_tick(mosquitto_evt_tick&) {
  ++ticks_;
  // Collect first, kick after: DISCONNECT runs inside the kick and changes
  // the sessions.
  std::vector<std::string> kick_clients, kick_users;
  mailbox_.drain([&](auto& m) {
    using T = std::decay_t<decltype(m)>;
    if constexpr (std::is_same_v<T, LogLine>) {
      broker_log(m.level, m.text);
    } else if constexpr (std::is_same_v<T, DirectoryUpdate>) {
      apply(std::move(m), kick_clients, kick_users);
    } else if constexpr (std::is_same_v<T, DiagQueued>) {
      queue_diag(std::move(m.request));
    } else if constexpr (std::is_same_v<T, ZonesChanged>) {
      apply_zones(std::move(m));
    } else if constexpr (std::is_same_v<T, RolloutsLoaded>) {
      EngineOutput out;
      const std::int64_t now_ms = static_cast<std::int64_t>(std::time(nullptr)) * 1000;
      const bool takes_all =
          std::any_of(m.rollouts.begin(), m.rollouts.end(), [](const Rollout& r) { return r.all; });
      for (auto& r : m.rollouts) rollouts_.load(std::move(r), now_ms, out);
      if (takes_all) take_in_provisioned(now_ms / 1000, out);
      carry_out(out, now_ms / 1000);
    } else if constexpr (std::is_same_v<T, SigningKeysChanged>) {
      signing_keys_ = std::move(m.keys);
    } else if constexpr (std::is_same_v<T, FeedApplied>) {
      // Operators (and the tests) can tell when a CLI change took effect.
      broker_log(LogLevel::info, "rs1: changes applied up to seq " + std::to_string(m.seq));
    }
  });
  for (const auto& id : kick_clients) {
    broker_log(LogLevel::info, "rs1: disconnecting device " + id + " (revoked, deleted or re-keyed)");
    mosquitto_kick_client_by_clientid(id.c_str(), false);
  }
  for (const auto& name : kick_users) {
    broker_log(LogLevel::info, "rs1: disconnecting deleted account " + name);
    mosquitto_kick_client_by_username(name.c_str(), false);
  }

  const std::int64_t now_s = std::time(nullptr);
  run_rollouts(std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count());
  send_downlinks(now_s);
  if (now_s >= next_housekeeping_s_) {
    next_housekeeping_s_ = now_s + 60;
    auth_failures_.expire(now_s);
    denial_throttle_.expire(now_s);
    const std::uint64_t expired_before = downlinks_.expired();
    downlinks_.expire(now_s);
    metrics_.downlinks_expired_total.fetch_add(downlinks_.expired() - expired_before,
                                               std::memory_order_relaxed);
  }
  metrics_.devices_online.store(sessions_.online_devices(), std::memory_order_relaxed);
  return MOSQ_ERR_SUCCESS;
}

int Broker::on_disconnect(mosquitto_evt_disconnect& ev) {
  // A failed login and a socket that never sent CONNECT are not sessions:
  // disconnect() finds nothing for them. On a client-id takeover the new
  // session is already live, so the device stays online.
  auto ended = sessions_.disconnect(ev.client);
  if (!ended || !ended->went_offline || ended->session.role != Role::device) {
    return MOSQ_ERR_SUCCESS;
  }
  if (!mosquitto_client_clean_session(ev.client)) {
    downlinks_.keep_persistent(ended->session.identity, ended->session.subscribed);
  }
  DeviceUpdate u;
  u.device_ref = ended->session.device_ref;
  u.last_seen = std::time(nullptr);
  u.online = false;
  writer_->add(std::move(u));
  const std::string& gone = ended->session.identity;
  events_->publish(EventKind::presence, gone, [&] { return presence_event_json(gone, false); });
  metrics_.devices_online.store(sessions_.online_devices(), std::memory_order_relaxed);
  return MOSQ_ERR_SUCCESS;
}

}  // namespace rs1
