// ACL_CHECK: carries out features/devices/access's decision (SPEC §5's topic
// rules, last wills, offline persistent sessions), records downlink
// subscriptions for the downlink gate, and writes the throttled
// acl_violation log.
#include <nlohmann/json.hpp>

#include <ctime>

#include "broker/broker.hpp"
#include "core/identity.hpp"
#include "core/topic_rules.hpp"

namespace rs1 {
namespace {

const char* access_name(int access) {
  switch (access) {
    case MOSQ_ACL_READ:
      return "read";
    case MOSQ_ACL_WRITE:
      return "write";
    case MOSQ_ACL_SUBSCRIBE:
      return "subscribe";
    case MOSQ_ACL_UNSUBSCRIBE:
      return "unsubscribe";
    default:
      return "unknown";
  }
}

}  // namespace

int Broker::on_acl_check(mosquitto_evt_acl_check& ev) {
  if (!ev.topic) return MOSQ_ERR_ACL_DENIED;
  const auto access = static_cast<Access>(ev.access);
  std::string_view payload(static_cast<const char*>(ev.payload),
                           ev.payload ? static_cast<std::size_t>(ev.payloadlen) : 0);
  const bool allowed =
      decide_access(sessions_, directory_, client_view(ev.client), access, ev.topic, payload,
                    ev.retain, PayloadLimits{options_.devices.max_payload_bytes});
  if (allowed) {
    if (access == Access::subscribe) {
      if (Session* session = sessions_.find(ev.client)) note_subscription(*session, ev.topic);
    }
    return MOSQ_ERR_SUCCESS;
  }
  record_denial(ev.client, sessions_.find(ev.client), ev.access, ev.topic, std::time(nullptr));
  return MOSQ_ERR_ACL_DENIED;
}

// The downlink gate (SPEC §5): a device's waiting downlinks of a kind go out
// only once its current session has subscribed to that topic. Mosquitto adds
// the subscription right after this check, before any TICK can publish.
void Broker::note_subscription(Session& session, const char* filter) {
  if (session.role != Role::device) return;
  auto inner = strip_shared_prefix(filter);
  if (!inner) return;
  auto parsed = parse_device_topic(*inner);
  if (!parsed || parsed->device_id != session.identity || is_uplink(parsed->kind)) return;
  session.subscribed |= downlink_bit(parsed->kind);
  if (parsed->kind == DeviceTopic::config_update) zone_subscribed(session.identity);
  downlinks_.wake(session.identity);
  if (parsed->kind == DeviceTopic::ota_trigger) rollouts_.device_ready(session.identity);
}

void Broker::record_denial(mosquitto* client, const Session* session, int access,
                           const char* topic, std::int64_t now_s) {
  metrics_.acl_denials_total.fetch_add(1, std::memory_order_relaxed);
  const char* username = mosquitto_client_username(client);
  const char* client_id = mosquitto_client_id(client);
  // One entry per client per minute at most; the rest are counted in the next.
  std::string key = session ? session->identity : (username ? username : "");
  std::int64_t suppressed = 0;
  if (!denial_throttle_.admit(key, now_s, suppressed)) return;
  nlohmann::json details = {{"username", username ? username : ""},
                            {"client_id", client_id ? client_id : ""},
                            {"topic", topic},
                            {"access", access_name(access)},
                            {"suppressed", suppressed}};
  security_event("acl_violation", "warning", mosquitto_client_address(client),
                 details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), now_s);
}

}  // namespace rs1
