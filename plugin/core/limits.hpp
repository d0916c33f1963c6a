// Abuse limits kept in memory on the broker thread: the per-device message
// rate, repeated login failures per address, and the throttle that keeps a
// spamming client from flooding the security log. Time is always a parameter.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace rs1 {

// A fixed one-minute window per key.
class RateLimiter {
 public:
  explicit RateLimiter(int per_minute) : per_minute_(per_minute) {}

  enum class Verdict { allow, drop_first, drop };  // drop_first: the first drop of this window
  // Where the key's window stands after a check (the API's RateLimit header).
  struct Usage {
    std::int64_t remaining = 0;  // checks still allowed in this window
    std::int64_t reset_ms = 0;   // when the window ends
  };
  Verdict check(const std::string& key, std::int64_t now_ms, Usage* usage = nullptr);
  void forget(const std::string& key) { windows_.erase(key); }
  void expire(std::int64_t now_ms);  // drops windows that have ended
  std::size_t tracked() const { return windows_.size(); }

 private:
  struct Window {
    std::int64_t start_ms = 0;
    std::int64_t count = 0;
  };
  int per_minute_;
  std::unordered_map<std::string, Window> windows_;
};

// Login failures per address over a sliding 60 s window (as a fixed window
// restarted by the first failure after the last one expired).
class AuthFailureTracker {
 public:
  AuthFailureTracker(int limit, int ban_s) : limit_(limit), ban_s_(ban_s) {}

  // Records a failure; true exactly when this failure reaches the limit
  // (auth_failure_repeated is raised once per window).
  bool record_failure(const std::string& address, std::int64_t now_s);
  bool is_banned(const std::string& address, std::int64_t now_s) const;
  int failures(const std::string& address, std::int64_t now_s) const;
  void expire(std::int64_t now_s);  // drops idle entries; call now and then

 private:
  struct Entry {
    std::int64_t window_start = 0;
    int count = 0;
    std::int64_t banned_until = 0;
  };
  int limit_;
  int ban_s_;
  std::unordered_map<std::string, Entry> entries_;
};

// At most one log entry per key per interval; the rest are counted and
// reported with the next entry.
class LogThrottle {
 public:
  explicit LogThrottle(std::int64_t interval_s) : interval_s_(interval_s) {}
  // True when an entry may be written now; `suppressed` is how many were
  // held back since the last one.
  bool admit(const std::string& key, std::int64_t now_s, std::int64_t& suppressed);
  void expire(std::int64_t now_s);

 private:
  struct Entry {
    std::int64_t last_s = 0;
    std::int64_t suppressed = 0;
  };
  std::int64_t interval_s_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace rs1
