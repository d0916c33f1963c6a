#include "core/downlinks.hpp"

#include <algorithm>

namespace rs1 {

DownlinkMask downlink_bit(DeviceTopic kind) {
  switch (kind) {
    case DeviceTopic::ota_trigger:
      return 1;
    case DeviceTopic::config_update:
      return 2;
    case DeviceTopic::diag_request:
      return 4;
    default:
      return 0;
  }
}

std::string downlink_topic(const std::string& device_id, DeviceTopic kind) {
  const char* suffix = "diag/request";
  switch (kind) {
    case DeviceTopic::ota_trigger:
      suffix = "ota/trigger";
      break;
    case DeviceTopic::config_update:
      suffix = "config/update";
      break;
    default:
      break;
  }
  return "opticworks/" + device_id + "/" + suffix;
}

std::optional<Downlink> Downlinks::enqueue(const std::string& device_id, Downlink downlink) {
  auto& queue = waiting_[device_id][downlink.kind];
  std::optional<Downlink> pushed_out;
  auto same = std::find_if(queue.begin(), queue.end(),
                           [&](const Downlink& d) { return d.key == downlink.key; });
  if (same != queue.end()) {
    *same = std::move(downlink);
  } else {
    if (queue.size() >= max_per_kind_) {
      pushed_out = std::move(queue.front());
      queue.pop_front();
    }
    queue.push_back(std::move(downlink));
  }
  woken_.insert(device_id);
  return pushed_out;
}

void Downlinks::forget(const std::string& device_id) {
  waiting_.erase(device_id);
  woken_.erase(device_id);
  persistent_.erase(device_id);
}

void Downlinks::wake(const std::string& device_id) {
  if (waiting_.count(device_id)) woken_.insert(device_id);
}

std::vector<OutgoingDownlink> Downlinks::take_ready(
    std::int64_t now_s, const std::function<DownlinkMask(const std::string&)>& subscriptions) {
  std::vector<OutgoingDownlink> out;
  if (woken_.empty()) return out;
  for (const auto& device_id : woken_) {
    auto it = waiting_.find(device_id);
    if (it == waiting_.end()) continue;
    const DownlinkMask mask = subscriptions(device_id);
    if (mask == 0) continue;  // offline or not subscribed: woken again when that changes
    Queues& queues = it->second;
    for (auto q = queues.begin(); q != queues.end();) {
      if (!(mask & downlink_bit(q->first))) {
        ++q;
        continue;
      }
      for (auto& d : q->second) {
        if (d.expires_at_s != 0 && d.expires_at_s <= now_s) {
          ++expired_;
          continue;
        }
        out.push_back(OutgoingDownlink{device_id, downlink_topic(device_id, q->first), std::move(d)});
      }
      q = queues.erase(q);
    }
    if (queues.empty()) waiting_.erase(it);
  }
  woken_.clear();
  return out;
}

void Downlinks::expire(std::int64_t now_s) {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    for (auto q = it->second.begin(); q != it->second.end();) {
      auto& queue = q->second;
      auto before = queue.size();
      queue.erase(std::remove_if(queue.begin(), queue.end(),
                                 [&](const Downlink& d) {
                                   return d.expires_at_s != 0 && d.expires_at_s <= now_s;
                                 }),
                  queue.end());
      expired_ += before - queue.size();
      q = queue.empty() ? it->second.erase(q) : std::next(q);
    }
    it = it->second.empty() ? waiting_.erase(it) : std::next(it);
  }
}

void Downlinks::keep_persistent(const std::string& device_id, DownlinkMask mask) {
  if (mask == 0) {
    persistent_.erase(device_id);
  } else {
    persistent_[device_id] = mask;
  }
}

DownlinkMask Downlinks::take_persistent(const std::string& device_id) {
  auto it = persistent_.find(device_id);
  if (it == persistent_.end()) return 0;
  DownlinkMask mask = it->second;
  persistent_.erase(it);
  return mask;
}

std::size_t Downlinks::waiting() const {
  std::size_t n = 0;
  for (const auto& [id, queues] : waiting_) {
    for (const auto& [kind, queue] : queues) n += queue.size();
  }
  return n;
}

}  // namespace rs1
