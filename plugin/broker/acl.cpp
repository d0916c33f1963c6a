// ACL_CHECK: SPEC §5's topic rules (core/topic_rules) applied to the session
// that asks, last wills included, and the throttled acl_violation log.
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
  const Session* session = sessions_.find(ev.client);
  bool allowed = false;
  if (session && !session->replaced) {
    allowed = acl_allows(session->role, session->identity, static_cast<Access>(ev.access), ev.topic);
  } else if (ev.access == MOSQ_ACL_WRITE) {
    // A WRITE from a connection that has gone (DISCONNECT fires before the
    // will is checked) or been taken over is its last will.
    const char* username = mosquitto_client_username(ev.client);
    const char* client_id = mosquitto_client_id(ev.client);
    if (username) {
      const std::string name(username);
      if (const auto* d = directory_.device(name)) {
        allowed = d->active && client_id && name == client_id &&
                  will_allowed(Role::device, name, ev.topic);
      } else if (const auto* a = directory_.account(name)) {
        allowed = will_allowed(a->role, name, ev.topic);
      }
    }
  }
  if (allowed) return MOSQ_ERR_SUCCESS;
  record_denial(ev.client, session, ev.access, ev.topic, std::time(nullptr));
  return MOSQ_ERR_ACL_DENIED;
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
