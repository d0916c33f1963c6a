// SQL for accounts.
#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {
namespace {

AccountCredentials account_of(const Query& q) {
  return AccountCredentials{q.text(0), role_from_name(q.text(1)), q.text(2), q.text(3)};
}

}  // namespace

Role role_from_name(const std::string& name) {
  if (name == "admin") return Role::admin;
  if (name == "service") return Role::service;
  throw StoreError(StoreError::Kind::fatal, "account with unknown role '" + name + "'");
}

void Accounts::add(const std::string& username, Role role, const std::string& salt,
                   const std::string& hash, std::int64_t now_s) {
  Transaction tx(c_);
  c_.query("INSERT INTO accounts (username, role, password_salt, password_hash, created_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, username)
      .bind(2, role_name(role))
      .bind(3, salt)
      .bind(4, hash)
      .bind(5, now_s)
      .run();
  tx.commit();
}

std::vector<AccountRecord> Accounts::list() {
  std::vector<AccountRecord> out;
  Query q = c_.query("SELECT username, role, created_at FROM accounts ORDER BY username");
  while (q.step()) out.push_back(AccountRecord{q.text(0), role_from_name(q.text(1)), q.integer(2)});
  return out;
}

bool Accounts::remove(const std::string& username) {
  Transaction tx(c_);
  c_.query("DELETE FROM accounts WHERE username = ?1").bind(1, username).run();
  bool found = c_.changes() > 0;
  tx.commit();
  return found;
}

std::vector<AccountCredentials> Accounts::load_credentials() {
  std::vector<AccountCredentials> out;
  Query q = c_.query("SELECT username, role, password_salt, password_hash FROM accounts");
  while (q.step()) out.push_back(account_of(q));
  return out;
}

std::optional<AccountCredentials> Accounts::find_credentials(const std::string& username) {
  Query q = c_.query(
      "SELECT username, role, password_salt, password_hash FROM accounts WHERE username = ?1");
  q.bind(1, username);
  if (!q.step()) return std::nullopt;
  return account_of(q);
}

}  // namespace rs1::sqlite
