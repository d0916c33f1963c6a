// BASIC_AUTH: carries out features/devices/access's login decision (SPEC
// §4), counts failures and applies the optional ban.
#include <ctime>

#include "broker/broker.hpp"

namespace rs1 {

void Broker::record_auth_failure(const std::string& address, const char* username,
                                 std::int64_t now_s) {
  metrics_.auth_failures_total.fetch_add(1, std::memory_order_relaxed);
  if (!auth_failures_.record_failure(address, now_s)) return;
  writer_->add(repeated_login_failures(address, username ? username : "",
                                       options_.devices.auth_fail_limit,
                                       options_.devices.auth_ban_s, now_s));
}

int Broker::on_basic_auth(mosquitto_evt_basic_auth& ev) {
  const std::int64_t now_s = std::time(nullptr);
  if (ticks_ == 0 && !warned_no_tick_ && now_s - started_s_ > 5) {
    warned_no_tick_ = true;
    broker_log(LogLevel::error,
               "rs1: no TICK events from mosquitto: per_listener_settings must be false, or "
               "revocations and queued logs are never processed");
  }
  const char* addr = mosquitto_client_address(ev.client);
  const std::string address = addr ? addr : "";
  if (auth_failures_.is_banned(address, now_s)) {
    metrics_.auth_failures_total.fetch_add(1, std::memory_order_relaxed);
    return MOSQ_ERR_AUTH;
  }
  // Mosquitto's re-check of a connected client (on SIGHUP it repeats
  // BASIC_AUTH for all of them): the session, and the downlink topics it has
  // subscribed to, stay as they are; it is not a new connection.
  if (const Session* live = sessions_.find(ev.client); live && !live->replaced) {
    if (login_still_allowed(directory_, *live, client_view(ev.client))) return MOSQ_ERR_SUCCESS;
    return MOSQ_ERR_AUTH;
  }
  // Answered from memory alone: the directory is complete and the change
  // feed keeps it current, so the broker thread never waits on disk here.
  auto session = decide_login(directory_, client_view(ev.client), ev.password, now_s,
                              options_.devices.clock_skew_ahead);
  if (!session) {
    record_auth_failure(address, ev.username, now_s);
    return MOSQ_ERR_AUTH;
  }
  const bool device = session->role == Role::device;
  const std::string id = session->identity;
  const std::int64_t ref = session->device_ref;
  if (device) {
    // A new session has subscribed to nothing yet, unless it is a persistent
    // one coming back, whose subscriptions Mosquitto restores.
    const DownlinkMask kept = downlinks_.take_persistent(id);
    if (!mosquitto_client_clean_session(ev.client)) session->subscribed = kept;
  }
  const bool wake = device && session->subscribed != 0;
  const bool zone_topic =
      device && (session->subscribed & downlink_bit(DeviceTopic::config_update));
  if (sessions_.login(ev.client, std::move(*session)) && device) {
    DeviceUpdate u;
    u.device_ref = ref;
    u.last_seen = now_s;
    u.online = true;
    writer_->add(std::move(u));
    events_->publish(EventKind::presence, id, [&] { return presence_event_json(id, true); });
  }
  if (zone_topic) zone_subscribed(id);
  if (wake) downlinks_.wake(id);
  metrics_.connections_total.fetch_add(1, std::memory_order_relaxed);
  metrics_.devices_online.store(sessions_.online_devices(), std::memory_order_relaxed);
  return MOSQ_ERR_SUCCESS;
}

}  // namespace rs1
