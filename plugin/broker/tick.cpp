// TICK and DISCONNECT: presence, what other threads queued for this one
// (log lines, directory changes and the kicks they cause), housekeeping.
#include <ctime>
#include <type_traits>
#include <unordered_set>

#include "broker/broker.hpp"

namespace rs1 {

void Broker::apply(DirectoryUpdate& update, std::vector<std::string>& kick_clients,
                   std::vector<std::string>& kick_users) {
  // Turn a complete listing into the same delta a normal poll gives.
  if (update.complete_devices) {
    std::unordered_set<std::string> devices;
    for (const auto& d : update.devices) devices.insert(d.device_id);
    for (auto& id : directory_.device_ids()) {
      if (!devices.count(id)) update.removed_devices.push_back(std::move(id));
    }
  }
  if (update.complete_accounts) {
    std::unordered_set<std::string> accounts;
    for (const auto& a : update.accounts) accounts.insert(a.username);
    for (auto& name : directory_.account_names()) {
      if (!accounts.count(name)) update.removed_accounts.push_back(std::move(name));
    }
  }
  for (auto& d : update.devices) {
    if (!d.active && sessions_.is_online(d.device_id)) kick_clients.push_back(d.device_id);
    directory_.put(std::move(d));
  }
  for (auto& id : update.removed_devices) {
    if (sessions_.is_online(id)) kick_clients.push_back(id);
    directory_.remove_device(id);
  }
  for (auto& a : update.accounts) directory_.put(std::move(a));
  for (auto& name : update.removed_accounts) {
    if (sessions_.is_online(name)) kick_users.push_back(name);
    directory_.remove_account(name);
  }
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
      apply(m, kick_clients, kick_users);
    } else if constexpr (std::is_same_v<T, FeedApplied>) {
      // Operators (and the tests) can tell when a CLI change took effect.
      broker_log(LogLevel::info, "rs1: changes applied up to seq " + std::to_string(m.seq));
    }
  });
  for (const auto& id : kick_clients) {
    broker_log(LogLevel::info, "rs1: disconnecting revoked device " + id);
    mosquitto_kick_client_by_clientid(id.c_str(), false);
  }
  for (const auto& name : kick_users) {
    broker_log(LogLevel::info, "rs1: disconnecting deleted account " + name);
    mosquitto_kick_client_by_username(name.c_str(), false);
  }

  const std::int64_t now_s = std::time(nullptr);
  if (now_s >= next_housekeeping_s_) {
    next_housekeeping_s_ = now_s + 60;
    auth_failures_.expire(now_s);
    denial_throttle_.expire(now_s);
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
  DeviceUpdate u;
  u.device_ref = ended->session.device_ref;
  u.last_seen = std::time(nullptr);
  u.online = false;
  writer_->add(std::move(u));
  metrics_.devices_online.store(sessions_.online_devices(), std::memory_order_relaxed);
  return MOSQ_ERR_SUCCESS;
}

}  // namespace rs1
