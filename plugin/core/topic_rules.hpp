// Topic rules of SPEC §5: which topics belong to a device, and the access
// decision for every role. Pure functions over string_view: no I/O, no state.
#pragma once

#include <optional>
#include <string_view>

namespace rs1 {

enum class Role { device, service, admin };
const char* role_name(Role role);  // "device", "service", "admin"

// Mosquitto's access flags (MOSQ_ACL_READ/WRITE/SUBSCRIBE/UNSUBSCRIBE).
enum class Access { read = 1, write = 2, subscribe = 4, unsubscribe = 8 };

enum class DeviceTopic {
  state,
  telemetry,
  ota_status,
  config_status,
  ota_trigger,    // downlink
  config_update,  // downlink
  diag_request,   // downlink
};

bool is_uplink(DeviceTopic kind);

struct ParsedTopic {
  std::string_view device_id;
  DeviceTopic kind;
  std::string_view metric;  // telemetry only: the topic after "telemetry/"
};

// Parses a concrete topic "opticworks/<id>/<kind>". Returns nothing for any
// topic that is not exactly one of SPEC §5's, including wildcards, empty
// levels, an invalid device id and a malformed telemetry metric.
std::optional<ParsedTopic> parse_device_topic(std::string_view topic);

// A telemetry metric: the topic after "telemetry/", any non-empty text
// without wildcards (the device owns all of telemetry/#).
bool is_valid_metric(std::string_view metric);

// "$share/<group>/<filter>" gives <filter>; any other filter is returned as is.
// A malformed shared filter (empty group, wildcard in the group, no filter)
// gives nothing.
std::optional<std::string_view> strip_shared_prefix(std::string_view filter);

// The ACL decision. `identity` is the authenticated login name (the device id
// for a device); `topic` is the topic for READ and WRITE and the raw filter
// for SUBSCRIBE and UNSUBSCRIBE.
bool acl_allows(Role role, std::string_view identity, Access access, std::string_view topic);

// A last will: a device may only leave one on its own state topic; a service
// only where it may publish; an admin anywhere.
bool will_allowed(Role role, std::string_view identity, std::string_view topic);

}  // namespace rs1
