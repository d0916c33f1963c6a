// SQL for firmware images and rollouts.
#include <nlohmann/json.hpp>

#include "store/sqlite_stores.hpp"

namespace rs1::sqlite {
namespace {

constexpr const char* kRolloutColumns =
    "SELECT r.id, r.version, f.sha256, f.size, r.all_devices, r.stages, r.max_failure_rate, "
    "r.min_finished, r.max_per_minute, r.timeout_min, r.retries, r.state, r.reason, r.stage, "
    "r.revision, r.created_at, r.updated_at FROM rollouts r JOIN firmware f ON f.version = "
    "r.version";

FirmwareRecord firmware_of(const Query& q) {
  return FirmwareRecord{q.text(0), q.text(1), q.integer(2), q.integer(3)};
}

Rollout rollout_of(const Query& q) {
  Rollout r;
  r.id = q.integer(0);
  r.version = q.text(1);
  r.sha256 = q.text(2);
  r.size = q.integer(3);
  r.all = q.integer(4) != 0;
  r.policy.stages.clear();
  auto stages = nlohmann::json::parse(q.text(5), nullptr, false);
  if (stages.is_array()) {
    for (const auto& s : stages) {
      if (s.is_number_integer()) r.policy.stages.push_back(s.get<int>());
    }
  }
  r.policy.max_failure_rate = q.real(6);
  r.policy.min_finished = static_cast<int>(q.integer(7));
  r.policy.max_per_minute = static_cast<int>(q.integer(8));
  r.policy.timeout_min = static_cast<int>(q.integer(9));
  r.policy.retries = static_cast<int>(q.integer(10));
  r.state = rollout_state_from_name(q.text(11)).value_or(RolloutState::cancelled);
  r.reason = q.opt_text(12);
  r.stage = static_cast<int>(q.integer(13));
  r.revision = q.integer(14);
  r.created_at = q.integer(15);
  r.updated_at = q.integer(16);
  return r;
}

}  // namespace

void Firmware::add(const FirmwareRecord& f) {
  Transaction tx(c_);
  {
    Query exists = c_.query("SELECT 1 FROM firmware WHERE version = ?1");
    exists.bind(1, f.version);
    if (exists.step())
      throw StoreError(StoreError::Kind::conflict, "version " + f.version + " exists");
  }
  c_.query("INSERT INTO firmware (version, sha256, size, created_at) VALUES (?1, ?2, ?3, ?4)")
      .bind(1, f.version)
      .bind(2, f.sha256)
      .bind(3, f.size)
      .bind(4, f.created_at)
      .run();
  tx.commit();
}

std::vector<FirmwareRecord> Firmware::list() {
  Query q = c_.query(
      "SELECT version, sha256, size, created_at FROM firmware ORDER BY created_at, version");
  std::vector<FirmwareRecord> out;
  while (q.step()) out.push_back(firmware_of(q));
  return out;
}

std::optional<FirmwareRecord> Firmware::by_version(const std::string& version) {
  Query q = c_.query("SELECT version, sha256, size, created_at FROM firmware WHERE version = ?1");
  q.bind(1, version);
  if (!q.step()) return std::nullopt;
  return firmware_of(q);
}

std::optional<FirmwareRecord> Firmware::by_sha256(const std::string& sha256) {
  Query q =
      c_.query("SELECT version, sha256, size, created_at FROM firmware WHERE sha256 = ?1 LIMIT 1");
  q.bind(1, sha256);
  if (!q.step()) return std::nullopt;
  return firmware_of(q);
}

std::int64_t Rollouts::create(const Rollout& r) {
  Transaction tx(c_);
  {
    Query f = c_.query("SELECT 1 FROM firmware WHERE version = ?1");
    f.bind(1, r.version);
    if (!f.step()) throw StoreError(StoreError::Kind::conflict, "no firmware version " + r.version);
  }
  // An `all` rollout takes in every device, now and later: it runs alone.
  {
    Query q = c_.query(
        "SELECT id, all_devices FROM rollouts WHERE state IN ('running', 'paused') "
        "AND (all_devices <> 0 OR ?1 <> 0) ORDER BY id LIMIT 1");
    q.bind(1, std::int64_t{r.all ? 1 : 0});
    if (q.step()) {
      throw StoreError(StoreError::Kind::conflict,
                       q.integer(1) ? "rollout " + std::to_string(q.integer(0)) +
                                          " (--all) is running or paused and holds every device"
                                    : "rollout " + std::to_string(q.integer(0)) +
                                          " is running or paused; --all needs every device free");
    }
  }
  std::vector<std::string> ids;
  if (r.all) {
    Query q = c_.query("SELECT device_id FROM devices ORDER BY device_id");
    while (q.step()) ids.push_back(q.text(0));
  } else {
    for (const auto& d : r.devices) {
      Query q = c_.query("SELECT 1 FROM devices WHERE device_id = ?1");
      q.bind(1, d.device_id);
      if (!q.step())
        throw StoreError(StoreError::Kind::conflict, "device " + d.device_id + " not found");
      Query busy = c_.query(
          "SELECT r.id FROM rollout_devices rd JOIN rollouts r ON r.id = rd.rollout_id "
          "WHERE rd.device_id = ?1 AND r.state IN ('running', 'paused') LIMIT 1");
      busy.bind(1, d.device_id);
      if (busy.step()) {
        throw StoreError(StoreError::Kind::conflict,
                         "device " + d.device_id + " is already in rollout " +
                             std::to_string(busy.integer(0)) + ", which is running or paused");
      }
      ids.push_back(d.device_id);
    }
  }
  c_.query(
        "INSERT INTO rollouts (version, all_devices, stages, max_failure_rate, min_finished, "
        "max_per_minute, timeout_min, retries, state, stage, revision, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', 0, 1, ?9, ?9)")
      .bind(1, r.version)
      .bind(2, std::int64_t{r.all ? 1 : 0})
      .bind(3, nlohmann::json(r.policy.stages).dump())
      .bind(4, r.policy.max_failure_rate)
      .bind(5, std::int64_t{r.policy.min_finished})
      .bind(6, std::int64_t{r.policy.max_per_minute})
      .bind(7, std::int64_t{r.policy.timeout_min})
      .bind(8, std::int64_t{r.policy.retries})
      .bind(9, r.created_at)
      .run();
  const std::int64_t id = sqlite3_last_insert_rowid(c_.handle());
  std::int64_t position = 0;
  for (const auto& device_id : ids) {
    c_.query(
          "INSERT INTO rollout_devices (rollout_id, device_id, position, status, updated_at) "
          "VALUES (?1, ?2, ?3, 'pending', ?4)")
        .bind(1, id)
        .bind(2, device_id)
        .bind(3, position++)
        .bind(4, r.created_at)
        .run();
  }
  tx.commit();
  return id;
}

std::optional<Rollout> Rollouts::get(std::int64_t id) {
  std::optional<Rollout> r;
  {
    Query q = c_.query(std::string(kRolloutColumns) + " WHERE r.id = ?1");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    r = rollout_of(q);
  }
  Query d = c_.query(
      "SELECT rd.device_id, rd.status, rd.attempts, rd.error, rd.updated_at, rd.triggered_at, "
      "rd.reported_success, dv.firmware_version FROM rollout_devices rd "
      "LEFT JOIN devices dv ON dv.device_id = rd.device_id WHERE rd.rollout_id = ?1 "
      "ORDER BY rd.position, rd.device_id");
  d.bind(1, id);
  while (d.step()) {
    RolloutDevice x;
    x.device_id = d.text(0);
    x.status = device_ota_status_from_name(d.text(1)).value_or(DeviceOtaStatus::pending);
    x.attempts = static_cast<int>(d.integer(2));
    x.error = d.opt_text(3);
    x.updated_at = d.integer(4);
    x.triggered_at = d.integer(5);
    x.reported_success = d.integer(6) != 0;
    x.firmware_version = d.opt_text(7);
    r->devices.push_back(std::move(x));
  }
  return r;
}

std::vector<Rollout> Rollouts::list() {
  Query q = c_.query(std::string(kRolloutColumns) + " ORDER BY r.id DESC");
  std::vector<Rollout> out;
  while (q.step()) {
    out.push_back(rollout_of(q));
  }
  return out;
}

RolloutCounts Rollouts::counts(std::int64_t id) {
  RolloutCounts c{};
  Query q = c_.query(
      "SELECT status, count(*) FROM rollout_devices WHERE rollout_id = ?1 GROUP BY status");
  q.bind(1, id);
  while (q.step()) {
    if (auto s = device_ota_status_from_name(q.text(0)))
      c[static_cast<std::size_t>(*s)] = q.integer(1);
  }
  return c;
}

std::vector<Rollout> Rollouts::active() {
  std::vector<std::int64_t> ids;
  {
    Query q = c_.query("SELECT id FROM rollouts WHERE state IN ('running', 'paused') ORDER BY id");
    while (q.step()) ids.push_back(q.integer(0));
  }
  std::vector<Rollout> out;
  for (auto id : ids) {
    if (auto r = get(id)) out.push_back(std::move(*r));
  }
  return out;
}

bool Rollouts::command(std::int64_t id, const std::vector<RolloutState>& from, RolloutState to,
                       const std::optional<std::string>& reason, std::int64_t now_s) {
  Transaction tx(c_);
  std::string state;
  {
    Query q = c_.query("SELECT state FROM rollouts WHERE id = ?1");
    q.bind(1, id);
    if (!q.step()) return false;
    state = q.text(0);
  }
  bool allowed = false;
  for (auto s : from) allowed = allowed || state == state_name(s);
  if (!allowed) return false;
  c_.query(
        "UPDATE rollouts SET state = ?2, reason = ?3, revision = revision + 1, updated_at = ?4 "
        "WHERE id = ?1")
      .bind(1, id)
      .bind(2, state_name(to))
      .bind(3, reason)
      .bind(4, now_s)
      .run();
  tx.commit();
  return true;
}

void Rollouts::write_progress(Connection& c, const RolloutProgress& p) {
  // Only while no operator changed the rollout since: the operator's state
  // reaches the engine through the change feed and wins.
  c.query(
       "UPDATE rollouts SET state = ?3, reason = ?4, stage = ?5, updated_at = ?6 "
       "WHERE id = ?1 AND revision = ?2")
      .bind(1, p.rollout_id)
      .bind(2, p.revision)
      .bind(3, state_name(p.state))
      .bind(4, p.reason)
      .bind(5, std::int64_t{p.stage})
      .bind(6, p.updated_at)
      .run();
}

void Rollouts::write_device(Connection& c, const RolloutDeviceRow& row) {
  const RolloutDevice& d = row.device;
  // Both statements take the same eight values, in the same places.
  auto bind_row = [&](Query&& q) {
    q.bind(1, row.rollout_id)
        .bind(2, d.device_id)
        .bind(3, status_name(d.status))
        .bind(4, std::int64_t{d.attempts})
        .bind(5, d.error)
        .bind(6, d.triggered_at)
        .bind(7, std::int64_t{d.reported_success ? 1 : 0})
        .bind(8, d.updated_at)
        .run();
  };
  bind_row(c.query(
      "UPDATE rollout_devices SET status = ?3, attempts = ?4, error = ?5, triggered_at = ?6, "
      "reported_success = ?7, updated_at = ?8 WHERE rollout_id = ?1 AND device_id = ?2"));
  if (c.changes() > 0) return;
  // A device the rollout took in while running: last in the order.
  bind_row(c.query(
      "INSERT OR IGNORE INTO rollout_devices (rollout_id, device_id, position, status, attempts, "
      "error, triggered_at, reported_success, updated_at) SELECT ?1, ?2, "
      "coalesce(max(position), -1) + 1, ?3, ?4, ?5, ?6, ?7, ?8 FROM rollout_devices "
      "WHERE rollout_id = ?1"));
}

}  // namespace rs1::sqlite
