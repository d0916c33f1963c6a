#include "features/devices/directory.hpp"

#include <algorithm>

namespace rs1 {

void Directory::replace(std::vector<DeviceCredentials> devices,
                        std::vector<AccountCredentials> accounts) {
  devices_.clear();
  accounts_.clear();
  for (auto& d : devices) put(std::move(d));
  for (auto& a : accounts) put(std::move(a));
}

const DeviceCredentials* Directory::device(const std::string& id) const {
  auto it = devices_.find(id);
  return it == devices_.end() ? nullptr : &it->second;
}

const AccountCredentials* Directory::account(const std::string& username) const {
  auto it = accounts_.find(username);
  return it == accounts_.end() ? nullptr : &it->second;
}

std::vector<std::string> Directory::device_ids() const {
  std::vector<std::string> out;
  out.reserve(devices_.size());
  for (const auto& [id, d] : devices_) out.push_back(id);
  return out;
}

std::vector<std::string> Directory::account_names() const {
  std::vector<std::string> out;
  out.reserve(accounts_.size());
  for (const auto& [name, a] : accounts_) out.push_back(name);
  return out;
}

void Directory::put(DeviceCredentials device) {
  std::string key = device.device_id;
  devices_.insert_or_assign(std::move(key), std::move(device));
}

void Directory::put(AccountCredentials account) {
  std::string key = account.username;
  accounts_.insert_or_assign(std::move(key), std::move(account));
}

bool Sessions::login(const void* client, Session session) {
  if (by_client_.count(client) != 0) {
    // The same connection authenticating again: forget the earlier login.
    disconnect(client);
  }
  std::vector<const void*>& clients = live_[session.identity];
  for (const void* other : clients) {
    Session& earlier = by_client_[other];
    if (earlier.client_id == session.client_id) earlier.replaced = true;
  }
  bool came_online = clients.empty();
  clients.push_back(client);
  if (came_online && session.role == Role::device) ++online_devices_;
  by_client_.emplace(client, std::move(session));
  return came_online;
}

std::optional<Sessions::Ended> Sessions::disconnect(const void* client) {
  auto it = by_client_.find(client);
  if (it == by_client_.end()) return std::nullopt;
  Ended ended{std::move(it->second), false};
  by_client_.erase(it);
  auto live = live_.find(ended.session.identity);
  if (live != live_.end()) {
    auto& clients = live->second;
    clients.erase(std::remove(clients.begin(), clients.end(), client), clients.end());
    if (clients.empty()) {
      live_.erase(live);
      ended.went_offline = true;
      if (ended.session.role == Role::device) --online_devices_;
    }
  }
  return ended;
}

Session* Sessions::find(const void* client) {
  auto it = by_client_.find(client);
  return it == by_client_.end() ? nullptr : &it->second;
}

const Session* Sessions::current(const std::string& identity) const {
  auto it = live_.find(identity);
  if (it == live_.end() || it->second.empty()) return nullptr;
  return find(it->second.back());
}

const Session* Sessions::find(const void* client) const {
  auto it = by_client_.find(client);
  return it == by_client_.end() ? nullptr : &it->second;
}

}  // namespace rs1
