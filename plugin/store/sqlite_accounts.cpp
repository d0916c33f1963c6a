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

void Accounts::add_session(const ApiSession& s) {
  Transaction tx(c_);
  c_.query("DELETE FROM api_sessions WHERE expires_at < ?1").bind(1, s.issued_at).run();
  // The account must still be there: a login racing its deletion gets no
  // session (the foreign key refuses the row as a conflict).
  c_.query("INSERT INTO api_sessions (jti, username, issued_at, expires_at) "
           "VALUES (?1, ?2, ?3, ?4)")
      .bind(1, s.jti)
      .bind(2, s.username)
      .bind(3, s.issued_at)
      .bind(4, s.expires_at)
      .run();
  tx.commit();
}

std::optional<ApiSession> Accounts::find_session(const std::string& jti, std::int64_t now_s) {
  Query q = c_.query(
      "SELECT s.jti, s.username, a.role, s.issued_at, s.expires_at FROM api_sessions s "
      "JOIN accounts a ON a.username = s.username WHERE s.jti = ?1 AND s.expires_at > ?2");
  q.bind(1, jti).bind(2, now_s);
  if (!q.step()) return std::nullopt;
  return ApiSession{q.text(0), q.text(1), role_from_name(q.text(2)), q.integer(3), q.integer(4)};
}

bool Accounts::remove_session(const std::string& jti) {
  c_.query("DELETE FROM api_sessions WHERE jti = ?1").bind(1, jti).run();
  return c_.changes() > 0;
}

}  // namespace rs1::sqlite
