#include "core/downlinks.hpp"

#include <algorithm>

namespace rs1 {

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
  DeviceState& state = devices_[device_id];
  auto& queue = state.waiting[downlink.kind];
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
  mark_ready_if_due(device_id, state);
  return pushed_out;
}

void Downlinks::forget(const std::string& device_id) {
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return;
  it->second.waiting.clear();
  ready_.erase(device_id);
  if (!it->second.online) devices_.erase(it);
}

void Downlinks::session_started(const std::string& device_id, bool persistent) {
  DeviceState& state = devices_[device_id];
  state.online = true;
  if (!persistent) state.subscribed.clear();
  mark_ready_if_due(device_id, state);
}

void Downlinks::subscribed(const std::string& device_id, DeviceTopic kind) {
  DeviceState& state = devices_[device_id];
  state.subscribed.insert(kind);
  mark_ready_if_due(device_id, state);
}

void Downlinks::session_ended(const std::string& device_id, bool persistent) {
  auto it = devices_.find(device_id);
  if (it == devices_.end()) return;
  it->second.online = false;
  if (!persistent) it->second.subscribed.clear();
  ready_.erase(device_id);
  if (it->second.waiting.empty() && it->second.subscribed.empty()) devices_.erase(it);
}

void Downlinks::mark_ready_if_due(const std::string& device_id, DeviceState& state) {
  if (!state.online) return;
  for (const auto& [kind, queue] : state.waiting) {
    if (!queue.empty() && state.subscribed.count(kind)) {
      ready_.insert(device_id);
      return;
    }
  }
}

std::vector<OutgoingDownlink> Downlinks::take_ready(std::int64_t now_s) {
  std::vector<OutgoingDownlink> out;
  if (ready_.empty()) return out;
  for (const auto& device_id : ready_) {
    DeviceState& state = devices_[device_id];
    for (auto& [kind, queue] : state.waiting) {
      if (!state.subscribed.count(kind)) continue;
      for (auto& d : queue) {
        if (d.expires_at_s != 0 && d.expires_at_s <= now_s) {
          ++expired_;
          continue;
        }
        out.push_back(OutgoingDownlink{device_id, downlink_topic(device_id, kind), std::move(d)});
      }
      queue.clear();
    }
    for (auto it = state.waiting.begin(); it != state.waiting.end();) {
      it = it->second.empty() ? state.waiting.erase(it) : std::next(it);
    }
  }
  ready_.clear();
  return out;
}

void Downlinks::expire(std::int64_t now_s) {
  for (auto it = devices_.begin(); it != devices_.end();) {
    for (auto& [kind, queue] : it->second.waiting) {
      auto before = queue.size();
      queue.erase(std::remove_if(queue.begin(), queue.end(),
                                 [&](const Downlink& d) {
                                   return d.expires_at_s != 0 && d.expires_at_s <= now_s;
                                 }),
                  queue.end());
      expired_ += before - queue.size();
    }
    for (auto w = it->second.waiting.begin(); w != it->second.waiting.end();) {
      w = w->second.empty() ? it->second.waiting.erase(w) : std::next(w);
    }
    const bool idle = !it->second.online && it->second.waiting.empty() && it->second.subscribed.empty();
    it = idle ? devices_.erase(it) : std::next(it);
  }
}

std::size_t Downlinks::waiting() const {
  std::size_t n = 0;
  for (const auto& [id, state] : devices_) {
    for (const auto& [kind, queue] : state.waiting) n += queue.size();
  }
  return n;
}

}  // namespace rs1
