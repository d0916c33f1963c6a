#include "features/ota/rollout.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace rs1 {
namespace {

constexpr const char* kStatusNames[] = {"pending", "triggered", "in_progress", "success",
                                        "failed",  "timed_out", "skipped"};
constexpr const char* kStateNames[] = {"running", "paused", "completed", "cancelled"};

bool is_failure(DeviceOtaStatus s) {
  return s == DeviceOtaStatus::failed || s == DeviceOtaStatus::timed_out;
}
bool in_flight(DeviceOtaStatus s) {
  return s == DeviceOtaStatus::triggered || s == DeviceOtaStatus::in_progress;
}

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", share * 100);
  return buf;
}

}  // namespace

const char* status_name(DeviceOtaStatus s) { return kStatusNames[static_cast<std::size_t>(s)]; }

std::optional<DeviceOtaStatus> device_ota_status_from_name(const std::string& name) {
  for (std::size_t i = 0; i < kDeviceOtaStatusCount; ++i) {
    if (name == kStatusNames[i]) return static_cast<DeviceOtaStatus>(i);
  }
  return std::nullopt;
}

const char* state_name(RolloutState s) { return kStateNames[static_cast<std::size_t>(s)]; }

std::optional<RolloutState> rollout_state_from_name(const std::string& name) {
  for (std::size_t i = 0; i < 4; ++i) {
    if (name == kStateNames[i]) return static_cast<RolloutState>(i);
  }
  return std::nullopt;
}

std::optional<std::string> check_policy(const RolloutPolicy& p) {
  if (p.stages.empty() || p.stages.size() > 20) return std::string("--stages: 1 to 20 stages");
  int previous = 0;
  for (int s : p.stages) {
    if (s <= previous || s > 100) {
      return std::string("--stages: percentages must rise strictly within 1..100");
    }
    previous = s;
  }
  if (previous != 100) return std::string("--stages: the last stage must be 100");
  if (!(p.max_failure_rate >= 0 && p.max_failure_rate <= 1)) {
    return std::string("--max-failure-rate must be within 0..1");
  }
  if (p.min_finished < 1) return std::string("--min-finished must be at least 1");
  if (p.max_per_minute < 1 || p.max_per_minute > 100000000) {
    return std::string("--max-per-minute must be within 1..100000000");
  }
  if (p.timeout_min < 1 || p.timeout_min > 7 * 24 * 60) {
    return std::string("--timeout-min must be within 1..10080");
  }
  if (p.retries < 0 || p.retries > 100) return std::string("--retries must be within 0..100");
  return std::nullopt;
}

std::optional<std::vector<int>> parse_stages(const std::string& text) {
  std::vector<int> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = text.find(',', start);
    std::string part =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (part.empty() || part.size() > 3) return std::nullopt;
    int v = 0;
    for (char c : part) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::size_t stage_size(int pct, std::size_t n) {
  return static_cast<std::size_t>((static_cast<std::uint64_t>(pct) * n + 99) / 100);
}

RolloutCounts count_statuses(const Rollout& r) {
  RolloutCounts c{};
  for (const auto& d : r.devices) ++c[static_cast<std::size_t>(d.status)];
  return c;
}

bool RolloutEngine::finished(const Active& a, const RolloutDevice& d) const {
  if (d.status == DeviceOtaStatus::success || d.status == DeviceOtaStatus::skipped) return true;
  return is_failure(d.status) && d.attempts > a.r.policy.retries;
}

bool RolloutEngine::due(const Active& a, const RolloutDevice& d) const {
  return d.status == DeviceOtaStatus::pending || (is_failure(d.status) && !finished(a, d));
}

void RolloutEngine::enqueue(Active& a, std::size_t i) {
  if (a.queued[i] || a.parked.count(i)) return;
  a.queued[i] = true;
  a.ready.push_back(i);
}

// Every status change goes through here, keeping the counters exact.
void RolloutEngine::set_status(Active& a, std::size_t i, DeviceOtaStatus status, std::int64_t now_s,
                               EngineOutput& out, bool trigger) {
  RolloutDevice& d = a.r.devices[i];
  const bool was_finished = finished(a, d);
  const bool was_failed_finished = was_finished && is_failure(d.status);
  --a.counts[static_cast<std::size_t>(d.status)];
  if (trigger) {
    ++d.attempts;
    d.triggered_at = now_s;
    d.reported_success = false;
  }
  d.status = status;
  d.updated_at = now_s;
  ++a.counts[static_cast<std::size_t>(d.status)];
  const bool now_finished = finished(a, d);
  const bool now_failed_finished = now_finished && is_failure(d.status);
  a.finished += static_cast<int>(now_finished) - static_cast<int>(was_finished);
  a.failed_finished +=
      static_cast<int>(now_failed_finished) - static_cast<int>(was_failed_finished);
  if (i < a.stage_end && was_finished != now_finished) {
    if (now_finished) {
      --a.unfinished_in_stage;
    } else {
      ++a.unfinished_in_stage;
    }
  }
  out.devices.push_back(RolloutDeviceRow{a.r.id, d});
  if (i < a.stage_end && due(a, d)) enqueue(a, i);
  if (now_failed_finished && !was_failed_finished) check_failure_rate(a, now_s, out);
}

void RolloutEngine::persist(const Active& a, std::int64_t now_s, EngineOutput& out) {
  out.rollouts.push_back(
      RolloutProgress{a.r.id, a.r.state, a.r.reason, a.r.stage, a.r.revision, now_s});
}

void RolloutEngine::check_failure_rate(Active& a, std::int64_t now_s, EngineOutput& out) {
  if (a.r.state != RolloutState::running) return;
  const std::int64_t n = static_cast<std::int64_t>(a.r.devices.size());
  const std::int64_t needed = std::min<std::int64_t>(a.r.policy.min_finished, n);
  if (a.finished < needed || a.finished == 0) return;
  const double share = static_cast<double>(a.failed_finished) / static_cast<double>(a.finished);
  if (share <= a.r.policy.max_failure_rate) return;
  a.r.state = RolloutState::paused;
  a.r.reason = "failure rate " + percent(share) + " (" + std::to_string(a.failed_finished) +
               " of " + std::to_string(a.finished) +
               " finished devices failed or timed out) passed " + "--max-failure-rate " +
               percent(a.r.policy.max_failure_rate);
  persist(a, now_s, out);
  out.log.push_back("rs1: rollout " + std::to_string(a.r.id) + " paused: " + *a.r.reason);
}

// Takes the devices of the current stage in (after a stage change, or when
// the set grew): due ones are queued, ones on the version are skipped.
void RolloutEngine::extend_stage(Active& a, std::int64_t now_s, EngineOutput& out) {
  const std::size_t n = a.r.devices.size();
  const int pct = a.r.policy.stages[static_cast<std::size_t>(a.r.stage)];
  const std::size_t end = std::min(n, std::max(a.stage_end, stage_size(pct, n)));
  for (std::size_t i = a.stage_end; i < end; ++i) {
    ++a.stage_end;
    RolloutDevice& d = a.r.devices[i];
    if (!finished(a, d)) ++a.unfinished_in_stage;
    if (d.status == DeviceOtaStatus::pending && d.firmware_version == a.r.version) {
      set_status(a, i, DeviceOtaStatus::skipped, now_s, out);
    } else if (due(a, d)) {
      enqueue(a, i);
    }
  }
}

// Next stages while the current one is done; completed after the last.
void RolloutEngine::advance(Active& a, std::int64_t now_s, EngineOutput& out) {
  while (a.r.state == RolloutState::running && a.unfinished_in_stage == 0) {
    if (static_cast<std::size_t>(a.r.stage) + 1 >= a.r.policy.stages.size()) {
      if (a.stage_end < a.r.devices.size()) {
        extend_stage(a, now_s, out);
        continue;
      }
      a.r.state = RolloutState::completed;
      a.r.reason.reset();
      persist(a, now_s, out);
      out.log.push_back("rs1: rollout " + std::to_string(a.r.id) + " completed");
      return;
    }
    ++a.r.stage;
    persist(a, now_s, out);
    out.log.push_back(
        "rs1: rollout " + std::to_string(a.r.id) + " stage " + std::to_string(a.r.stage + 1) +
        " (" + std::to_string(a.r.policy.stages[static_cast<std::size_t>(a.r.stage)]) + "%)");
    extend_stage(a, now_s, out);
  }
}

void RolloutEngine::release(Active& a) {
  for (const auto& d : a.r.devices) {
    auto it = owners_.find(d.device_id);
    if (it != owners_.end() && it->second.first == a.r.id) owners_.erase(it);
  }
}

// Completed and cancelled rollouts are let go at once: their devices are
// free for the next rollout.
void RolloutEngine::drop_if_ended(std::int64_t id) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  const RolloutState s = it->second.r.state;
  if (s != RolloutState::completed && s != RolloutState::cancelled) return;
  release(it->second);
  active_.erase(it);
}

void RolloutEngine::add_device(Active& a, RolloutDevice d) {
  auto owner = owners_.find(d.device_id);
  if (owner != owners_.end() && owner->second.first != a.r.id) return;  // in another rollout
  const std::size_t i = a.r.devices.size();
  owners_[d.device_id] = {a.r.id, i};
  ++a.counts[static_cast<std::size_t>(d.status)];
  a.r.devices.push_back(std::move(d));
  a.queued.push_back(false);
  const RolloutDevice& added = a.r.devices.back();
  if (finished(a, added)) {
    ++a.finished;
    if (is_failure(added.status)) ++a.failed_finished;
  }
}

void RolloutEngine::load(Rollout r, std::int64_t now_ms, EngineOutput& out) {
  const std::int64_t now_s = now_ms / 1000;
  auto it = active_.find(r.id);
  if (it != active_.end()) {
    Active& a = it->second;
    if (r.revision <= a.r.revision) return;  // nothing an operator changed
    a.r.revision = r.revision;
    const RolloutState before = a.r.state;
    a.r.state = r.state;
    a.r.reason = r.reason;
    out.log.push_back("rs1: rollout " + std::to_string(a.r.id) + " " + state_name(before) + " -> " +
                      state_name(a.r.state) + " by an operator");
    if (a.r.state == RolloutState::cancelled || a.r.state == RolloutState::completed) {
      release(a);
      active_.erase(it);
      return;
    }
    if (a.r.state == RolloutState::running) {
      a.refilled_ms = now_ms;
      advance(a, now_s, out);
    }
    drop_if_ended(r.id);
    return;
  }
  if (r.state != RolloutState::running && r.state != RolloutState::paused) return;
  if (r.policy.stages.empty()) return;
  r.stage = std::min<int>(r.stage, static_cast<int>(r.policy.stages.size()) - 1);
  Active& a = active_[r.id];
  std::vector<RolloutDevice> devices = std::move(r.devices);
  r.devices.clear();
  a.r = std::move(r);
  for (auto& d : devices) add_device(a, std::move(d));
  const double rate = a.r.policy.max_per_minute;
  a.tokens = std::max(1.0, rate / 60.0);
  a.refilled_ms = now_ms;
  // Devices of the stages already walked through, then the current one.
  const int pct = a.r.policy.stages[static_cast<std::size_t>(a.r.stage)];
  const std::size_t end = std::min(a.r.devices.size(), stage_size(pct, a.r.devices.size()));
  std::vector<std::size_t> in_flight_now;
  for (std::size_t i = 0; i < end; ++i) {
    RolloutDevice& d = a.r.devices[i];
    ++a.stage_end;
    if (!finished(a, d)) ++a.unfinished_in_stage;
    if (d.status == DeviceOtaStatus::pending && d.firmware_version == a.r.version) {
      set_status(a, i, DeviceOtaStatus::skipped, now_s, out);
    } else if (due(a, d)) {
      enqueue(a, i);
    } else if (in_flight(d.status)) {
      in_flight_now.push_back(i);
    }
  }
  // After a restart: devices still in flight keep their deadline, and a
  // trigger that may not have gone out is sent again (same attempt).
  std::sort(in_flight_now.begin(), in_flight_now.end(), [&](std::size_t x, std::size_t y) {
    return a.r.devices[x].triggered_at < a.r.devices[y].triggered_at;
  });
  for (std::size_t i : in_flight_now) {
    const RolloutDevice& d = a.r.devices[i];
    a.deadlines.emplace_back(d.triggered_at + a.r.policy.timeout_min * 60, i);
    if (d.status == DeviceOtaStatus::triggered) {
      out.triggers.push_back(TriggerOrder{a.r.id, d.device_id, a.r.version, a.r.sha256, a.r.size});
    }
  }
  if (a.r.state == RolloutState::running) advance(a, now_s, out);
  drop_if_ended(a.r.id);
}

RolloutEngine::Active* RolloutEngine::owner_of(const std::string& device_id, std::size_t& index) {
  auto it = owners_.find(device_id);
  if (it == owners_.end()) return nullptr;
  auto a = active_.find(it->second.first);
  if (a == active_.end()) return nullptr;
  index = it->second.second;
  return &a->second;
}

void RolloutEngine::device_ready(const std::string& device_id) {
  std::size_t i = 0;
  Active* a = owner_of(device_id, i);
  if (!a || !a->parked.erase(i)) return;
  enqueue(*a, i);
}

void RolloutEngine::on_state(const std::string& device_id,
                             const std::optional<std::string>& version, std::int64_t now_s,
                             EngineOutput& out) {
  std::size_t i = 0;
  Active* a = owner_of(device_id, i);
  if (!a || !version) return;
  RolloutDevice& d = a->r.devices[i];
  d.firmware_version = version;
  if (d.status == DeviceOtaStatus::success && *version != a->r.version) {
    d.error = "rolled back: runs " + *version + " after reporting success";
    d.reported_success = false;
    set_status(*a, i, DeviceOtaStatus::failed, now_s, out);
  } else if (d.status == DeviceOtaStatus::in_progress && d.reported_success) {
    d.reported_success = false;
    if (*version == a->r.version) {
      d.error.reset();
      set_status(*a, i, DeviceOtaStatus::success, now_s, out);
    } else {
      d.error = "rolled back: runs " + *version + " after reporting success";
      set_status(*a, i, DeviceOtaStatus::failed, now_s, out);
    }
  } else if (d.status == DeviceOtaStatus::pending && *version == a->r.version && i < a->stage_end) {
    set_status(*a, i, DeviceOtaStatus::skipped, now_s, out);
  }
  if (a->r.state == RolloutState::running) advance(*a, now_s, out);
  drop_if_ended(a->r.id);
}

void RolloutEngine::on_status(const std::string& device_id, const OtaStatusReport& report,
                              std::int64_t now_s, EngineOutput& out) {
  std::size_t i = 0;
  Active* a = owner_of(device_id, i);
  if (!a || report.rollout_id != a->r.id) return;
  RolloutDevice& d = a->r.devices[i];
  if (!in_flight(d.status)) return;  // a late or stray report
  if (report.status == "success") {
    d.firmware_version = report.version;
    if (report.version == a->r.version) {
      d.reported_success = false;
      d.error.reset();
      set_status(*a, i, DeviceOtaStatus::success, now_s, out);
    } else {
      // Success must be seen running the target: wait for its next state.
      d.reported_success = true;
      set_status(*a, i, DeviceOtaStatus::in_progress, now_s, out);
    }
  } else if (report.status == "failed") {
    d.error = report.error ? *report.error : std::string("failed");
    set_status(*a, i, DeviceOtaStatus::failed, now_s, out);
  } else if (d.status == DeviceOtaStatus::triggered) {
    set_status(*a, i, DeviceOtaStatus::in_progress, now_s, out);
  }
  if (a->r.state == RolloutState::running) advance(*a, now_s, out);
  drop_if_ended(a->r.id);
}

void RolloutEngine::on_provisioned(const std::string& device_id, std::int64_t now_s,
                                   EngineOutput& out) {
  if (owners_.count(device_id)) return;
  for (auto& [id, a] : active_) {
    if (!a.r.all) continue;
    RolloutDevice d;
    d.device_id = device_id;
    d.updated_at = now_s;
    add_device(a, d);
    out.devices.push_back(RolloutDeviceRow{a.r.id, a.r.devices.back()});
    // The set grew: the current stage's share may take the device in.
    extend_stage(a, now_s, out);
    return;
  }
}

void RolloutEngine::take_in(const std::vector<std::string>& device_ids, std::int64_t now_s,
                            EngineOutput& out) {
  if (!holds_all()) return;
  for (const auto& id : device_ids) on_provisioned(id, now_s, out);
}

bool RolloutEngine::holds_all() const {
  for (const auto& [id, a] : active_) {
    if (a.r.all) return true;
  }
  return false;
}

std::vector<std::string> RolloutEngine::device_ids() const {
  std::vector<std::string> ids;
  ids.reserve(owners_.size());
  for (const auto& [id, a] : active_) {
    for (const auto& d : a.r.devices) {
      auto owner = owners_.find(d.device_id);
      if (owner != owners_.end() && owner->second.first == id) ids.push_back(d.device_id);
    }
  }
  return ids;
}

void RolloutEngine::on_removed(const std::string& device_id, std::int64_t now_s,
                               EngineOutput& out) {
  std::size_t i = 0;
  Active* a = owner_of(device_id, i);
  if (!a) return;
  RolloutDevice& d = a->r.devices[i];
  if (finished(*a, d)) return;
  // A deleted device must not hold its stage up for ever.
  d.error = "device deleted";
  a->parked.erase(i);
  set_status(*a, i, DeviceOtaStatus::skipped, now_s, out);
  if (a->r.state == RolloutState::running) advance(*a, now_s, out);
  drop_if_ended(a->r.id);
}

void RolloutEngine::tick(std::int64_t now_ms, const Ready& ready, EngineOutput& out,
                         std::size_t max_triggers) {
  const std::int64_t now_s = now_ms / 1000;
  std::size_t triggered = 0;
  for (auto it = active_.begin(); it != active_.end();) {
    Active& a = it->second;
    // Timeouts, oldest trigger first.
    while (!a.deadlines.empty() && a.deadlines.front().first <= now_s) {
      const std::size_t i = a.deadlines.front().second;
      const std::int64_t deadline = a.deadlines.front().first;
      a.deadlines.pop_front();
      RolloutDevice& d = a.r.devices[i];
      if (!in_flight(d.status) || d.triggered_at + a.r.policy.timeout_min * 60 != deadline)
        continue;
      d.error = "no success within " + std::to_string(a.r.policy.timeout_min) + " min";
      d.reported_success = false;
      set_status(a, i, DeviceOtaStatus::timed_out, now_s, out);
    }
    if (a.r.state == RolloutState::running) advance(a, now_s, out);
    if (a.r.state == RolloutState::running) {
      const double rate = a.r.policy.max_per_minute;
      const double cap = std::max(1.0, rate / 60.0);
      a.tokens =
          std::min(cap, a.tokens + static_cast<double>(now_ms - a.refilled_ms) * rate / 60000.0);
      a.refilled_ms = now_ms;
      // Parked devices that got ready without us hearing (a persistent
      // session whose subscription Mosquitto restored): once a second.
      if (now_ms >= a.next_sweep_ms && !a.parked.empty()) {
        a.next_sweep_ms = now_ms + 1000;
        for (auto p = a.parked.begin(); p != a.parked.end();) {
          if (ready(a.r.devices[*p].device_id)) {
            a.queued[*p] = true;
            a.ready.push_back(*p);
            p = a.parked.erase(p);
          } else {
            ++p;
          }
        }
      }
      while (a.tokens >= 1.0 && !a.ready.empty() && triggered < max_triggers) {
        const std::size_t i = a.ready.front();
        a.ready.pop_front();
        a.queued[i] = false;
        RolloutDevice& d = a.r.devices[i];
        if (!due(a, d)) continue;
        if (d.firmware_version == a.r.version && d.status == DeviceOtaStatus::pending) {
          set_status(a, i, DeviceOtaStatus::skipped, now_s, out);
          continue;
        }
        if (!ready(d.device_id)) {
          a.parked.insert(i);
          continue;
        }
        a.tokens -= 1.0;
        ++triggered;
        set_status(a, i, DeviceOtaStatus::triggered, now_s, out, true);
        a.deadlines.emplace_back(now_s + a.r.policy.timeout_min * 60, i);
        out.triggers.push_back(
            TriggerOrder{a.r.id, d.device_id, a.r.version, a.r.sha256, a.r.size});
      }
      advance(a, now_s, out);
    }
    if (a.r.state == RolloutState::completed || a.r.state == RolloutState::cancelled) {
      release(a);
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
}

namespace {

// As a JSON string: quotes, backslashes and control characters escaped;
// everything else (UTF-8 included) as it is.
void append_json_string(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

}  // namespace

std::string trigger_payload(const TriggerOrder& t, std::string_view url, std::int64_t expires_at) {
  std::string out;
  out.reserve(200 + url.size());
  out.append("{\"rollout_id\":").append(std::to_string(t.rollout_id)).append(",\"version\":");
  append_json_string(out, t.version);
  out.append(",\"url\":");
  append_json_string(out, url);
  out.append(",\"sha256\":");
  append_json_string(out, t.sha256);
  out.append(",\"size\":").append(std::to_string(t.size));
  out.append(",\"expires_at\":").append(std::to_string(expires_at)).push_back('}');
  return out;
}

const Rollout* RolloutEngine::find(std::int64_t id) const {
  auto it = active_.find(id);
  return it == active_.end() ? nullptr : &it->second.r;
}

RolloutCounts RolloutEngine::running_counts() const {
  RolloutCounts c{};
  for (const auto& [id, a] : active_) {
    if (a.r.state != RolloutState::running) continue;
    for (std::size_t s = 0; s < kDeviceOtaStatusCount; ++s) c[s] += a.counts[s];
  }
  return c;
}

}  // namespace rs1
