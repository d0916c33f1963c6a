// SQL for diagnostics requests.
#include <nlohmann/json.hpp>

#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {
namespace {

constexpr const char* kColumns =
    "SELECT request_id, device_id, what, created_at, expires_at, sent_at FROM diag_requests";

DiagRequest request_of(const Query& q) {
  DiagRequest r;
  r.request_id = q.text(0);
  r.device_id = q.text(1);
  auto what = nlohmann::json::parse(q.text(2), nullptr, false);
  if (what.is_array()) {
    for (const auto& w : what) {
      if (w.is_string()) r.what.push_back(w.get<std::string>());
    }
  }
  r.created_at = q.integer(3);
  r.expires_at = q.integer(4);
  r.sent_at = q.opt_integer(5);
  return r;
}

}  // namespace

void Diag::add(const DiagRequest& r) {
  Transaction tx(c_);
  {
    Query exists = c_.query("SELECT 1 FROM devices WHERE device_id = ?1");
    exists.bind(1, r.device_id);
    if (!exists.step()) throw StoreError(StoreError::Kind::conflict, "device " + r.device_id + " not found");
  }
  {
    Query held = c_.query(
        "SELECT count(*) FROM diag_requests WHERE device_id = ?1 AND sent_at IS NULL "
        "AND expires_at > ?2");
    held.bind(1, r.device_id).bind(2, r.created_at);
    held.step();
    if (held.integer(0) >= static_cast<std::int64_t>(kDiagHeldPerDevice)) {
      throw StoreError(StoreError::Kind::conflict,
                       "device " + r.device_id + " already has " +
                           std::to_string(kDiagHeldPerDevice) + " diagnostics requests waiting");
    }
  }
  c_.query("INSERT INTO diag_requests (request_id, device_id, what, created_at, expires_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, r.request_id)
      .bind(2, r.device_id)
      .bind(3, nlohmann::json(r.what).dump())
      .bind(4, r.created_at)
      .bind(5, r.expires_at)
      .run();
  // Old requests are kept a day past their expiry for `diag --wait`, then go.
  c_.query("DELETE FROM diag_requests WHERE expires_at < ?1").bind(1, r.created_at - kDiagTtlS).run();
  tx.commit();
}

std::optional<DiagRequest> Diag::get(const std::string& request_id) {
  Query q = c_.query(std::string(kColumns) + " WHERE request_id = ?1");
  q.bind(1, request_id);
  if (!q.step()) return std::nullopt;
  return request_of(q);
}

std::vector<DiagRequest> Diag::pending(std::int64_t now_s) {
  Query q = c_.query(std::string(kColumns) +
                     " WHERE sent_at IS NULL AND expires_at > ?1 ORDER BY created_at, rowid");
  q.bind(1, now_s);
  std::vector<DiagRequest> out;
  while (q.step()) out.push_back(request_of(q));
  return out;
}

void Diag::mark_sent(Connection& c, const DiagSent& sent) {
  c.query("UPDATE diag_requests SET sent_at = ?2 WHERE request_id = ?1 AND sent_at IS NULL")
      .bind(1, sent.request_id)
      .bind(2, sent.sent_at)
      .run();
}

}  // namespace rs1::sqlite
