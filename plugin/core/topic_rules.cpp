#include "core/topic_rules.hpp"

#include "core/identity.hpp"

namespace rs1 {
namespace {

constexpr std::string_view kRoot = "opticworks/";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool is_downlink(DeviceTopic kind) { return !is_uplink(kind); }

}  // namespace

const char* role_name(Role role) {
  switch (role) {
    case Role::admin:
      return "admin";
    case Role::service:
      return "service";
    case Role::device:
      return "device";
  }
  return "device";
}

bool is_uplink(DeviceTopic kind) {
  switch (kind) {
    case DeviceTopic::state:
    case DeviceTopic::telemetry:
    case DeviceTopic::ota_status:
    case DeviceTopic::config_status:
      return true;
    default:
      return false;
  }
}

bool is_valid_metric(std::string_view metric) {
  // SPEC §5 grants the device all of telemetry/#: any suffix is its own
  // metric. Only an empty one names nothing, and wildcards are never part of
  // a published topic.
  return !metric.empty() && metric.find_first_of("+#") == std::string_view::npos;
}

std::optional<ParsedTopic> parse_device_topic(std::string_view topic) {
  if (!starts_with(topic, kRoot)) return std::nullopt;
  std::string_view rest = topic.substr(kRoot.size());
  std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view id = rest.substr(0, slash);
  if (!is_valid_device_id(id)) return std::nullopt;
  std::string_view tail = rest.substr(slash + 1);

  constexpr std::string_view kTelemetry = "telemetry/";
  if (starts_with(tail, kTelemetry)) {
    std::string_view metric = tail.substr(kTelemetry.size());
    if (!is_valid_metric(metric)) return std::nullopt;
    return ParsedTopic{id, DeviceTopic::telemetry, metric};
  }
  static constexpr struct {
    std::string_view suffix;
    DeviceTopic kind;
  } kExact[] = {
      {"state", DeviceTopic::state},
      {"ota/status", DeviceTopic::ota_status},
      {"config/status", DeviceTopic::config_status},
      {"ota/trigger", DeviceTopic::ota_trigger},
      {"config/update", DeviceTopic::config_update},
      {"diag/request", DeviceTopic::diag_request},
  };
  for (const auto& e : kExact) {
    if (tail == e.suffix) return ParsedTopic{id, e.kind, {}};
  }
  return std::nullopt;
}

std::optional<std::string_view> strip_shared_prefix(std::string_view filter) {
  constexpr std::string_view kShare = "$share/";
  if (!starts_with(filter, kShare)) return filter;
  std::string_view rest = filter.substr(kShare.size());
  std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  std::string_view group = rest.substr(0, slash);
  if (group.find_first_of("+#") != std::string_view::npos) return std::nullopt;
  std::string_view inner = rest.substr(slash + 1);
  if (inner.empty()) return std::nullopt;
  return inner;
}

namespace {

bool device_allows(std::string_view id, Access access, std::string_view topic) {
  std::string_view target = topic;
  if (access == Access::subscribe || access == Access::unsubscribe) {
    auto inner = strip_shared_prefix(topic);
    if (!inner) return false;
    target = *inner;
  }
  // parse_device_topic rejects wildcards, so a filter can only match when it
  // is exactly one concrete topic: a wildcard never widens a device's reach.
  auto parsed = parse_device_topic(target);
  if (!parsed || parsed->device_id != id) return false;
  if (access == Access::write) return is_uplink(parsed->kind);
  return is_downlink(parsed->kind);
}

bool service_allows(Access access, std::string_view topic) {
  switch (access) {
    case Access::write: {
      auto parsed = parse_device_topic(topic);
      return parsed && is_downlink(parsed->kind);
    }
    case Access::read:
      return starts_with(topic, kRoot);
    case Access::subscribe:
    case Access::unsubscribe: {
      // Anything under opticworks/: the first level must be the literal root,
      // so "#", "+/..." and "$SYS/..." stay out of reach.
      auto inner = strip_shared_prefix(topic);
      return inner && starts_with(*inner, kRoot);
    }
  }
  return false;
}

}  // namespace

bool acl_allows(Role role, std::string_view identity, Access access, std::string_view topic) {
  switch (role) {
    case Role::admin:
      return true;
    case Role::service:
      return service_allows(access, topic);
    case Role::device:
      return device_allows(identity, access, topic);
  }
  return false;
}

bool will_allowed(Role role, std::string_view identity, std::string_view topic) {
  if (role == Role::device) {
    auto parsed = parse_device_topic(topic);
    return parsed && parsed->device_id == identity && parsed->kind == DeviceTopic::state;
  }
  return acl_allows(role, identity, Access::write, topic);
}

}  // namespace rs1
