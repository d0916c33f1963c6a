#include "features/devices/access.hpp"

#include <unordered_set>

#include "core/identity.hpp"
#include "core/payload.hpp"

namespace rs1 {

std::optional<Session> decide_login(const Directory& directory, const ClientView& client,
                                    const char* password, std::int64_t now_s,
                                    bool clock_skew_ahead) {
  if (!client.username || !password) return std::nullopt;
  const std::string name(*client.username);
  if (!is_valid_device_id(name)) return std::nullopt;  // also keeps + # / out of every topic
  if (const DeviceCredentials* device = directory.device(name)) {
    if (!device->active || !client.client_id || name != *client.client_id) return std::nullopt;
    if (!verify_device_password(device->secret_hash, name, password, now_s, clock_skew_ahead)) {
      return std::nullopt;
    }
    Session s;
    s.identity = name;
    s.client_id = name;
    s.role = Role::device;
    s.device_ref = device->ref;
    s.last_seen_written = now_s;
    return s;
  }
  if (const AccountCredentials* account = directory.account(name)) {
    if (!verify_account_password(account->password_salt, account->password_hash, password)) {
      return std::nullopt;
    }
    Session s;
    s.identity = name;
    s.client_id = client.client_id ? std::string(*client.client_id) : std::string();
    s.role = account->role;
    return s;
  }
  return std::nullopt;
}

bool login_still_allowed(const Directory& directory, const Session& live,
                         const ClientView& client) {
  if (live.replaced || !client.username || *client.username != live.identity) return false;
  if (live.role == Role::device) {
    const DeviceCredentials* device = directory.device(live.identity);
    return device != nullptr && device->active && device->ref == live.device_ref &&
           client.client_id && *client.client_id == live.client_id;
  }
  const AccountCredentials* account = directory.account(live.identity);
  return account != nullptr && account->role == live.role;
}

bool decide_access(const Sessions& sessions, const Directory& directory, const ClientView& client,
                   Access access, std::string_view topic, std::string_view payload, bool retain,
                   const PayloadLimits& limits) {
  if (const Session* session = sessions.find(client.handle); session && !session->replaced) {
    return acl_allows(session->role, session->identity, access, topic);
  }
  if (access != Access::write && access != Access::read) return false;
  if (!client.username) return false;
  const std::string name(*client.username);
  if (const DeviceCredentials* d = directory.device(name)) {
    if (!d->active || !client.client_id || name != *client.client_id) return false;
    if (access == Access::read) return acl_allows(Role::device, name, access, topic);
    if (!will_allowed(Role::device, name, topic) || retain) return false;
    auto parsed = parse_device_topic(topic);
    return parsed && !check_uplink(*parsed, payload, limits.max_payload_bytes);
  }
  if (const AccountCredentials* a = directory.account(name)) {
    if (access == Access::read) return acl_allows(a->role, name, access, topic);
    return will_allowed(a->role, name, topic);
  }
  return false;
}

DirectoryEffects apply_update(Directory& directory, const Sessions& sessions,
                              DirectoryUpdate update) {
  DirectoryEffects fx;
  // Turn a complete listing into the same delta a normal poll gives.
  if (update.complete_devices) {
    std::unordered_set<std::string> listed;
    for (const auto& d : update.devices) listed.insert(d.device_id);
    for (auto& id : directory.device_ids()) {
      if (!listed.count(id)) update.removed_devices.push_back(std::move(id));
    }
  }
  if (update.complete_accounts) {
    std::unordered_set<std::string> listed;
    for (const auto& a : update.accounts) listed.insert(a.username);
    for (auto& name : directory.account_names()) {
      if (!listed.count(name)) update.removed_accounts.push_back(std::move(name));
    }
  }
  for (auto& d : update.devices) {
    if (sessions.is_online(d.device_id)) {
      // A live session keeps the key and secret it logged in with: a new
      // secret, or a device deleted and added again between two polls (a new
      // key), must not leave it connected under the old ones.
      const DeviceCredentials* before = directory.device(d.device_id);
      const bool changed = !before || before->ref != d.ref || before->secret_hash != d.secret_hash;
      if (!d.active || changed) {
        fx.kick_clients.push_back(d.device_id);
      }
    }
    directory.put(std::move(d));
  }
  for (auto& id : update.removed_devices) {
    if (!directory.device(id)) continue;
    if (sessions.is_online(id)) fx.kick_clients.push_back(id);
    directory.remove_device(id);
    fx.removed_devices.push_back(id);
  }
  for (auto& a : update.accounts) directory.put(std::move(a));
  for (auto& name : update.removed_accounts) {
    if (sessions.is_online(name)) fx.kick_users.push_back(name);
    directory.remove_account(name);
  }
  return fx;
}

}  // namespace rs1
