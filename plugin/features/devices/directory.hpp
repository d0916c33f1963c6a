// Who may log in (Directory) and who is logged in (Sessions), both owned by
// the broker thread and kept in memory so a login or an ACL check never
// waits on disk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/downlinks.hpp"
#include "features/accounts/account.hpp"
#include "features/devices/device.hpp"

namespace rs1 {

// What changed in the directory, as the change feed's handlers read it.
struct DirectoryUpdate {
  // A complete update lists every device (or account): whatever it does not
  // list is gone. Sent when the feed was trimmed past the last change seen.
  bool complete_devices = false;
  bool complete_accounts = false;
  std::vector<DeviceCredentials> devices;  // added or changed
  std::vector<std::string> removed_devices;
  std::vector<AccountCredentials> accounts;
  std::vector<std::string> removed_accounts;
};

class Directory {
 public:
  void replace(std::vector<DeviceCredentials> devices, std::vector<AccountCredentials> accounts);
  const DeviceCredentials* device(const std::string& id) const;
  const AccountCredentials* account(const std::string& username) const;
  void put(DeviceCredentials device);
  void put(AccountCredentials account);
  void remove_device(const std::string& id) { devices_.erase(id); }
  void remove_account(const std::string& username) { accounts_.erase(username); }
  std::size_t device_count() const { return devices_.size(); }
  std::vector<std::string> device_ids() const;
  std::vector<std::string> account_names() const;

 private:
  std::unordered_map<std::string, DeviceCredentials> devices_;
  std::unordered_map<std::string, AccountCredentials> accounts_;
};

// One authenticated connection. Keyed by the broker's client handle, not by
// name: on a client-id takeover the new connection logs in before the old one
// disconnects, and both carry the same client id. An account may hold many
// connections at once (workers sharing a service account), each with its own
// client id: none of them replaces another.
struct Session {
  std::string identity;  // device id or account name
  std::string client_id;
  Role role = Role::device;
  std::int64_t device_ref = 0;
  bool replaced = false;  // a newer connection took over this client id
  std::int64_t last_seen_written = 0;  // last_seen is written at most once a second
  DownlinkMask subscribed = 0;  // the downlink topics this session has subscribed to
};

class Sessions {
 public:
  // True when this login brings the identity online (no other live session).
  // An older session with the same client id is marked replaced.
  bool login(const void* client, Session session);
  // The session that ended, and whether its identity went offline with it.
  struct Ended {
    Session session;
    bool went_offline;
  };
  std::optional<Ended> disconnect(const void* client);
  Session* find(const void* client);
  const Session* find(const void* client) const;
  // The newest live session of an identity (after a takeover, the new one).
  const Session* current(const std::string& identity) const;
  template <typename Fn>
  void for_each_device(Fn&& fn) const {  // fn(device_ref), once per online device
    for (const auto& [identity, clients] : live_) {
      const Session& s = by_client_.at(clients.front());
      if (s.role == Role::device) fn(s.device_ref);
    }
  }
  bool is_online(const std::string& identity) const { return live_.count(identity) != 0; }
  std::size_t online_devices() const { return online_devices_; }

 private:
  std::unordered_map<const void*, Session> by_client_;
  std::unordered_map<std::string, std::vector<const void*>> live_;  // identity -> its connections
  std::size_t online_devices_ = 0;
};

}  // namespace rs1
