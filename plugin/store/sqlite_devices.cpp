// SQL for devices.
#include <algorithm>
#include <chrono>
#include <thread>

#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {
namespace {

constexpr const char* kDeviceColumns =
    "SELECT device_id, model, status, online, last_seen, state, firmware_version, created_at "
    "FROM devices";
constexpr const char* kCredentialColumns =
    "SELECT id, device_id, device_secret_hash, status FROM devices";

DeviceCredentials credentials_of(const Query& q) {
  return DeviceCredentials{q.integer(0), q.text(1), q.text(2), q.text(3) == "active"};
}

DeviceRecord record_of(const Query& q) {
  DeviceRecord r;
  r.device_id = q.text(0);
  r.model = q.opt_text(1);
  r.status = q.text(2);
  r.online = q.integer(3) != 0;
  r.last_seen = q.opt_integer(4);
  r.state = q.opt_text(5);
  r.firmware_version = q.opt_text(6);
  r.created_at = q.integer(7);
  return r;
}

}  // namespace

void Devices::add(const std::vector<NewDevice>& devices, std::int64_t now_s) {
  Transaction tx(c_);
  for (const auto& d : devices) {
    c_.query("INSERT INTO devices (device_id, model, device_secret_hash, created_at) "
             "VALUES (?1, ?2, ?3, ?4)")
        .bind(1, d.device_id)
        .bind(2, d.model)
        .bind(3, d.secret_hash)
        .bind(4, now_s)
        .run();
  }
  tx.commit();
}

std::vector<DeviceRecord> Devices::list() {
  std::vector<DeviceRecord> out;
  Query q = c_.query(std::string(kDeviceColumns) + " ORDER BY device_id");
  while (q.step()) out.push_back(record_of(q));
  return out;
}

std::optional<DeviceRecord> Devices::get(const std::string& device_id) {
  Query q = c_.query(std::string(kDeviceColumns) + " WHERE device_id = ?1");
  q.bind(1, device_id);
  if (!q.step()) return std::nullopt;
  return record_of(q);
}

bool Devices::set_status(const std::string& device_id, const std::string& status) {
  Transaction tx(c_);
  c_.query("UPDATE devices SET status = ?2 WHERE device_id = ?1").bind(1, device_id).bind(2, status).run();
  bool found = c_.changes() > 0;
  tx.commit();
  return found;
}

bool Devices::remove(const std::string& device_id) {
  // The device first, in one short transaction (the broker then kicks it and
  // takes nothing more from it); its telemetry after, in bounded chunks with
  // a pause between them, so the ingest writer never waits for more than one
  // chunk (a device may hold millions of rows). Rows of a deleted device are
  // never shown nor archived (every read joins devices).
  std::optional<std::int64_t> ref;
  {
    Query q = c_.query("SELECT id FROM devices WHERE device_id = ?1");
    q.bind(1, device_id);
    if (q.step()) ref = q.integer(0);
  }
  if (!ref) return false;
  {
    Transaction tx(c_);
    c_.query("DELETE FROM diag_requests WHERE device_id = ?1").bind(1, device_id).run();
    c_.query("DELETE FROM devices WHERE id = ?1").bind(1, *ref).run();
    if (c_.changes() == 0) return false;  // deleted meanwhile
    tx.commit();
  }
  delete_telemetry_of(*ref);
  return true;
}

void Devices::delete_telemetry_of(std::int64_t device_ref) {
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    int deleted = 0;
    {
      Transaction tx(c_);
      c_.query(
            "DELETE FROM telemetry WHERE rowid IN (SELECT rowid FROM telemetry "
            "WHERE device_ref = ?1 LIMIT ?2)")
          .bind(1, device_ref)
          .bind(2, static_cast<std::int64_t>(kDeleteChunkRows))
          .run();
      deleted = c_.changes();
      tx.commit();
    }
    if (deleted < static_cast<int>(kDeleteChunkRows)) return;
    // At least as long as the chunk held the lock, so a waiting writer
    // always finds it free.
    const auto held = std::chrono::steady_clock::now() - started;
    std::this_thread::sleep_for(
        std::max<std::chrono::steady_clock::duration>(held, std::chrono::milliseconds(10)));
  }
}

std::vector<DeviceCredentials> Devices::load_credentials() {
  std::vector<DeviceCredentials> out;
  Query q = c_.query(kCredentialColumns);
  while (q.step()) out.push_back(credentials_of(q));
  return out;
}

std::optional<DeviceCredentials> Devices::find_credentials(const std::string& device_id) {
  Query q = c_.query(std::string(kCredentialColumns) + " WHERE device_id = ?1");
  q.bind(1, device_id);
  if (!q.step()) return std::nullopt;
  return credentials_of(q);
}

}  // namespace rs1::sqlite
