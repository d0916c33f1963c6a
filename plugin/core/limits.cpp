#include "core/limits.hpp"

namespace rs1 {

RateLimiter::Verdict RateLimiter::check(const std::string& key, std::int64_t now_ms,
                                        Usage* usage) {
  if (per_minute_ <= 0) return Verdict::allow;
  Window& w = windows_[key];
  if (w.count == 0 || now_ms - w.start_ms >= 60000) {
    w.start_ms = now_ms;
    w.count = 0;
  }
  ++w.count;
  if (usage) {
    usage->remaining = w.count < per_minute_ ? per_minute_ - w.count : 0;
    usage->reset_ms = w.start_ms + 60000;
  }
  if (w.count <= per_minute_) return Verdict::allow;
  return w.count == per_minute_ + 1 ? Verdict::drop_first : Verdict::drop;
}

void RateLimiter::expire(std::int64_t now_ms) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (now_ms - it->second.start_ms >= 60000)
      it = windows_.erase(it);
    else
      ++it;
  }
}

bool AuthFailureTracker::record_failure(const std::string& address, std::int64_t now_s) {
  Entry& e = entries_[address];
  if (e.count == 0 || now_s - e.window_start >= 60) {
    e.window_start = now_s;
    e.count = 0;
  }
  ++e.count;
  if (e.count == limit_) {
    if (ban_s_ > 0) e.banned_until = now_s + ban_s_;
    return true;
  }
  if (e.count > limit_ && ban_s_ > 0) e.banned_until = now_s + ban_s_;
  return false;
}

bool AuthFailureTracker::is_banned(const std::string& address, std::int64_t now_s) const {
  if (ban_s_ <= 0) return false;
  auto it = entries_.find(address);
  return it != entries_.end() && now_s < it->second.banned_until;
}

int AuthFailureTracker::failures(const std::string& address, std::int64_t now_s) const {
  auto it = entries_.find(address);
  if (it == entries_.end() || now_s - it->second.window_start >= 60) return 0;
  return it->second.count;
}

void AuthFailureTracker::expire(std::int64_t now_s) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    bool idle = now_s - it->second.window_start >= 60 && now_s >= it->second.banned_until;
    it = idle ? entries_.erase(it) : std::next(it);
  }
}

bool LogThrottle::admit(const std::string& key, std::int64_t now_s, std::int64_t& suppressed) {
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& e = it->second;
  if (inserted || now_s - e.last_s >= interval_s_) {
    suppressed = e.suppressed;
    e.last_s = now_s;
    e.suppressed = 0;
    return true;
  }
  ++e.suppressed;
  return false;
}

void LogThrottle::expire(std::int64_t now_s) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    bool idle = now_s - it->second.last_s >= 2 * interval_s_;
    it = idle ? entries_.erase(it) : std::next(it);
  }
}

}  // namespace rs1
