// BASIC_AUTH: device logins (SPEC §4's hourly HMAC password) and account
// logins, failure counting and the optional ban.
#include <nlohmann/json.hpp>

#include <ctime>

#include "broker/broker.hpp"
#include "core/identity.hpp"

namespace rs1 {

bool Broker::authenticate(mosquitto* client, const char* username, const char* password,
                          std::int64_t now_s) {
  if (!username || !password) return false;
  const std::string name(username);
  if (!is_valid_device_id(name)) return false;  // also keeps + # / out of every topic
  const char* client_id = mosquitto_client_id(client);

  if (const DeviceCredentials* device = directory_.device(name)) {
    if (!device->active || !client_id || name != client_id) return false;
    if (!verify_device_password(device->secret_hash, name, password, now_s,
                                options_.clock_skew_ahead)) {
      return false;
    }
    Session s;
    s.identity = name;
    s.client_id = name;
    s.role = Role::device;
    s.device_ref = device->ref;
    s.last_seen_written = now_s;
    if (sessions_.login(client, std::move(s))) {
      DeviceUpdate u;
      u.device_ref = device->ref;
      u.last_seen = now_s;
      u.online = true;
      writer_->add(std::move(u));
    }
    return true;
  }
  if (const AccountCredentials* account = directory_.account(name)) {
    if (!verify_account_password(account->password_salt, account->password_hash, password)) {
      return false;
    }
    Session s;
    s.identity = name;
    s.client_id = client_id ? client_id : "";
    s.role = account->role;
    sessions_.login(client, std::move(s));
    return true;
  }
  return false;
}

void Broker::record_auth_failure(const std::string& address, const char* username,
                                 std::int64_t now_s) {
  metrics_.auth_failures_total.fetch_add(1, std::memory_order_relaxed);
  if (!auth_failures_.record_failure(address, now_s)) return;
  nlohmann::json details = {{"failures", options_.auth_fail_limit},
                            {"window_s", 60},
                            {"last_username", username ? username : ""},
                            {"banned_s", options_.auth_ban_s}};
  security_event("auth_failure_repeated", options_.auth_ban_s > 0 ? "critical" : "warning",
                 address.c_str(), details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                 now_s);
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
  if (authenticate(ev.client, ev.username, ev.password, now_s)) {
    metrics_.connections_total.fetch_add(1, std::memory_order_relaxed);
    metrics_.devices_online.store(sessions_.online_devices(), std::memory_order_relaxed);
    return MOSQ_ERR_SUCCESS;
  }
  record_auth_failure(address, ev.username, now_s);
  return MOSQ_ERR_AUTH;
}

}  // namespace rs1
