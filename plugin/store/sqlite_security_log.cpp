// SQL for the security log.
#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {

std::vector<SecurityEvent> SecurityLog::query(const SecurityLogQuery& sq) {
  Query q = c_.query(
      "SELECT event_type, severity, coalesce(ip, ''), details, time FROM security_log "
      "WHERE (?1 IS NULL OR time >= ?1) AND (?2 IS NULL OR event_type = ?2) "
      "ORDER BY time DESC, id DESC LIMIT ?3");
  q.bind(1, sq.since).bind(2, sq.event_type).bind(3, sq.limit);
  std::vector<SecurityEvent> out;
  while (q.step()) {
    out.push_back(SecurityEvent{q.text(0), q.text(1), q.text(2), q.text(3), q.integer(4)});
  }
  return out;
}

void SecurityLog::append(const SecurityEvent& event) {
  Transaction tx(c_);
  insert(c_, event);
  tx.commit();
}

void SecurityLog::insert(Connection& c, const SecurityEvent& e) {
  c.query("INSERT INTO security_log (event_type, severity, ip, details, time) "
          "VALUES (?1, ?2, nullif(?3, ''), ?4, ?5)")
      .bind(1, e.event_type)
      .bind(2, e.severity)
      .bind(3, e.ip)
      .bind(4, e.details)
      .bind(5, e.time)
      .run();
}

}  // namespace rs1::sqlite
