#include "documents/security_log.hpp"

namespace rs1::doc {

Json security_event_json(const SecurityEvent& event) {
  return {{"event_type", event.event_type},
          {"severity", event.severity},
          {"ip", event.ip.empty() ? Json(nullptr) : Json(event.ip)},
          {"details", object_or_null(event.details)},
          {"time", event.time}};
}

Json security_log_json(const std::vector<SecurityEvent>& events) {
  Json list = Json::array();
  for (const SecurityEvent& event : events) list.push_back(security_event_json(event));
  return list;
}

}  // namespace rs1::doc
