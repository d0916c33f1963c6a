// Accounts (SPEC §4): backend services and operators. The model and the
// narrow store interface the broker and rs1ctl use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store_error.hpp"
#include "core/topic_rules.hpp"

namespace rs1 {

// What a login needs, kept in memory by the broker.
struct AccountCredentials {
  std::string username;
  Role role = Role::service;
  std::string password_salt;
  std::string password_hash;
};

struct AccountRecord {
  std::string username;
  Role role = Role::service;
  std::int64_t created_at = 0;
};

class AccountStore {
 public:
  virtual ~AccountStore() = default;
  // Throws StoreError(conflict) when the name is taken by an account or a device.
  virtual void add(const std::string& username, Role role, const std::string& salt,
                   const std::string& hash, std::int64_t now_s) = 0;
  virtual std::vector<AccountRecord> list() = 0;
  // False when there is no such account.
  virtual bool remove(const std::string& username) = 0;
  virtual std::vector<AccountCredentials> load_credentials() = 0;
  virtual std::optional<AccountCredentials> find_credentials(const std::string& username) = 0;
};

}  // namespace rs1
