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

// A Device API session (SPEC §10): the token with this jti is honoured
// while its row exists and it has not expired.
struct ApiSession {
  std::string jti;
  std::string username;
  Role role = Role::service;  // the account's role now
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
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

  // Device API sessions. add_session also prunes sessions expired before
  // `s.issued_at`; it throws StoreError(conflict) when the account is gone.
  // Removing an account removes its sessions in the same transaction.
  virtual void add_session(const ApiSession& s) = 0;
  // The session with this jti, joined with its account's current role;
  // nothing when it was removed, its account deleted, or it expired by `now_s`.
  virtual std::optional<ApiSession> find_session(const std::string& jti, std::int64_t now_s) = 0;
  // False when there was no such session.
  virtual bool remove_session(const std::string& jti) = 0;
};

}  // namespace rs1
