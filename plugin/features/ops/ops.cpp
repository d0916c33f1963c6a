#include "features/ops/ops.hpp"

#include <algorithm>
#include <ctime>

#include "core/time_parse.hpp"

namespace rs1 {
namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::tm utc_of(std::int64_t ms) {
  std::time_t s = static_cast<std::time_t>(floor_div(ms, 1000));
  std::tm tm{};
  gmtime_r(&s, &tm);
  return tm;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int number(std::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

// A real calendar day, or nothing.
std::optional<std::int64_t> day_ms(int y, int m, int d) {
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  std::int64_t days = days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  std::tm back = utc_of(days * kOpsDayMs);
  if (back.tm_mday != d || back.tm_mon + 1 != m) return std::nullopt;  // 02-30
  return days * kOpsDayMs;
}

std::string two(int n) {  // 0-99
  return std::string(1, static_cast<char>('0' + (n / 10) % 10)) + static_cast<char>('0' + n % 10);
}

std::string kib_text(std::uint64_t bytes) { return std::to_string(bytes / (1024 * 1024)) + " MiB"; }

}  // namespace

std::int64_t hour_floor(std::int64_t ms) { return floor_div(ms, kOpsHourMs) * kOpsHourMs; }
std::int64_t day_floor(std::int64_t ms) { return floor_div(ms, kOpsDayMs) * kOpsDayMs; }

std::vector<std::int64_t> hours_to_aggregate(std::optional<std::int64_t> aggregated_through_ms,
                                             std::optional<std::int64_t> oldest_row_ms,
                                             std::int64_t now_ms, std::size_t max_hours) {
  std::vector<std::int64_t> hours;
  if (!oldest_row_ms) return hours;
  std::int64_t first = hour_floor(*oldest_row_ms);
  if (aggregated_through_ms) first = std::max(first, hour_floor(*aggregated_through_ms));
  const std::int64_t end = hour_floor(now_ms);  // the current hour is not complete
  for (std::int64_t h = first; h < end && hours.size() < max_hours; h += kOpsHourMs) {
    hours.push_back(h);
  }
  return hours;
}

std::int64_t archive_cutoff_ms(std::int64_t now_ms, int hot_days,
                               std::optional<std::int64_t> aggregated_through_ms) {
  std::int64_t cutoff = now_ms - static_cast<std::int64_t>(hot_days) * kOpsDayMs;
  if (!aggregated_through_ms) return std::min<std::int64_t>(cutoff, 0);  // nothing aggregated
  return std::min(cutoff, *aggregated_through_ms);
}

std::string archive_relative_path(std::int64_t ms) {
  std::tm tm = utc_of(ms);
  return std::to_string(tm.tm_year + 1900) + "/" + two(tm.tm_mon + 1) + "/" + two(tm.tm_mday) +
         ".ndjson.gz";
}

std::optional<std::int64_t> archive_day_of(std::string_view p) {
  // YYYY/MM/DD.ndjson.gz
  static constexpr std::string_view kSuffix = ".ndjson.gz";
  if (p.size() != 10 + kSuffix.size() || p.substr(10) != kSuffix || p[4] != '/' || p[7] != '/')
    return std::nullopt;
  auto y = p.substr(0, 4), m = p.substr(5, 2), d = p.substr(8, 2);
  if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return std::nullopt;
  return day_ms(number(y), number(m), number(d));
}

std::vector<std::string> archive_files_to_delete(const std::vector<std::string>& paths,
                                                 std::int64_t now_ms, int retention_days) {
  // A day file goes once its whole day (its end) is older than the retention.
  const std::int64_t keep_from = now_ms - static_cast<std::int64_t>(retention_days) * kOpsDayMs;
  std::vector<std::string> out;
  for (const auto& p : paths) {
    auto day = archive_day_of(p);
    if (day && *day + kOpsDayMs <= keep_from) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> archive_files_for_window(const std::vector<std::string>& paths,
                                                  std::optional<std::int64_t> since_ms,
                                                  std::optional<std::int64_t> until_ms) {
  std::vector<std::pair<std::int64_t, std::string>> days;
  for (const auto& p : paths) {
    auto day = archive_day_of(p);
    if (!day) continue;
    if (since_ms && *day + kOpsDayMs <= *since_ms) continue;
    if (until_ms && *day > *until_ms) continue;
    days.emplace_back(*day, p);
  }
  std::sort(days.begin(), days.end());
  std::vector<std::string> out;
  for (auto& d : days) out.push_back(std::move(d.second));
  return out;
}

std::string backup_file_name(std::int64_t ms) {
  std::tm tm = utc_of(ms);
  return std::to_string(tm.tm_year + 1900) + "-" + two(tm.tm_mon + 1) + "-" + two(tm.tm_mday) +
         ".sqlite";
}

std::optional<std::int64_t> backup_day_of(std::string_view n) {
  static constexpr std::string_view kSuffix = ".sqlite";
  if (n.size() != 10 + kSuffix.size() || n.substr(10) != kSuffix || n[4] != '-' || n[7] != '-')
    return std::nullopt;
  auto y = n.substr(0, 4), m = n.substr(5, 2), d = n.substr(8, 2);
  if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return std::nullopt;
  return day_ms(number(y), number(m), number(d));
}

std::vector<std::string> backups_to_delete(const std::vector<std::string>& names,
                                           std::int64_t now_ms, int retention_days) {
  const std::int64_t oldest_kept =
      day_floor(now_ms) - static_cast<std::int64_t>(retention_days) * kOpsDayMs;
  std::vector<std::string> out;
  for (const auto& n : names) {
    auto day = backup_day_of(n);
    if (day && *day < oldest_kept) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool backup_due_at_start(std::optional<std::int64_t> newest_backup_ms, std::int64_t now_ms) {
  return !newest_backup_ms || now_ms - *newest_backup_ms > kBackupMaxAgeMs;
}

std::vector<HealthVerdict> health_verdicts(const HealthInputs& in) {
  std::vector<HealthVerdict> v;
  v.push_back({"database", in.database_ok,
               in.database_ok ? "reachable, quick_check ok" : in.database_detail});

  if (!in.heartbeat) {
    v.push_back({"broker", false, "no broker heartbeat in this database"});
    v.push_back({"writer", false, "no broker heartbeat in this database"});
  } else {
    const Heartbeat& h = *in.heartbeat;
    const std::int64_t age = in.now_ms - h.time_ms;
    if (!h.same_file) {
      v.push_back({"broker", false,
                   "the broker (pid " + std::to_string(h.pid) +
                       ") is serving a database file that is no longer at db_path"});
    } else if (age > kHeartbeatMaxAgeMs) {
      v.push_back({"broker", false,
                   "last heartbeat " + std::to_string(age / 1000) + " s ago (pid " +
                       std::to_string(h.pid) + ")"});
    } else {
      v.push_back({"broker", true,
                   "heartbeat " + std::to_string(std::max<std::int64_t>(age, 0) / 1000) +
                       " s ago (pid " + std::to_string(h.pid) + ")"});
    }
    const bool near_full = h.queue_max > 0 && h.queue_depth * 10 >= h.queue_max * 9;
    const std::int64_t since_commit = h.last_commit_ms > 0 ? h.time_ms - h.last_commit_ms : -1;
    const bool stalled = h.queue_depth > 0 && (since_commit < 0 || since_commit > kWriterStallMs);
    std::string detail =
        std::to_string(h.queue_depth) + " queued of " + std::to_string(h.queue_max) +
        ", last commit " +
        (since_commit < 0 ? std::string("never") : std::to_string(since_commit / 1000) + " s") +
        " before the heartbeat";
    v.push_back({"writer", !near_full && !stalled && age <= kHeartbeatMaxAgeMs, detail});
  }

  if (!in.newest_backup_ms) {
    v.push_back({"backup", false, "no backup yet"});
  } else {
    const std::int64_t age = in.now_ms - *in.newest_backup_ms;
    v.push_back({"backup", age <= kBackupMaxAgeMs,
                 "newest backup " + std::to_string(age / kOpsHourMs) + " h old"});
  }

  const bool disk_ok = in.total_bytes > 0 && in.free_bytes * 10 > in.total_bytes;
  v.push_back({"disk", disk_ok,
               kib_text(in.free_bytes) + " free of " + kib_text(in.total_bytes) + " in data_dir"});
  v.push_back({"signing_key", in.signing_key_readable, in.signing_key_detail});
  v.push_back({"archive", !in.archive_failure,
               in.archive_failure ? "last run failed: " + *in.archive_failure : "not failing"});
  return v;
}

bool all_ok(const std::vector<HealthVerdict>& verdicts) {
  return std::all_of(verdicts.begin(), verdicts.end(), [](const HealthVerdict& v) { return v.ok; });
}

}  // namespace rs1
