// MESSAGE: what a device publishes. Runs after the WRITE check, so the topic
// is one of the device's own uplinks. A message is either accepted (and its
// row queued for the writer) or dropped with a counted reason; never an error
// that would disconnect the device.
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "broker/broker.hpp"
#include "features/devices/uplink.hpp"
#include "core/topic_rules.hpp"

namespace rs1 {
namespace {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int Broker::on_message(mosquitto_evt_message& ev) {
  Session* session = sessions_.find(ev.client);
  // Services and admins publish downlinks; the broker routes them as they are.
  if (!session || session->role != Role::device || !ev.topic) return MOSQ_ERR_SUCCESS;
  auto parsed = parse_device_topic(ev.topic);
  if (!parsed || parsed->device_id != session->identity || !is_uplink(parsed->kind)) {
    return MOSQ_ERR_ACL_DENIED;  // the WRITE check already refused it; belt and braces
  }
  metrics_.messages_received_total.fetch_add(1, std::memory_order_relaxed);
  // The database is the record of a device's state: its uplinks are routed
  // live but never kept as retained messages that would outlive it.
  ev.retain = false;
  const std::int64_t now_ms = unix_ms();
  const std::int64_t now_s = now_ms / 1000;

  auto drop = [&](DropReason reason) {
    metrics_.count_drop(reason);
    return MOSQ_ERR_ACL_DENIED;  // not stored, not forwarded; v5 QoS 1 sees PUBACK 0x87
  };

  switch (rate_limiter_.check(session->identity, now_ms)) {
    case RateLimiter::Verdict::allow:
      break;
    case RateLimiter::Verdict::drop_first: {
      nlohmann::json details = {{"device_id", session->identity},
                                {"limit_per_min", options_.devices.rate_limit_per_min}};
      security_event("rate_limit_exceeded", "warning", mosquitto_client_address(ev.client),
                     details.dump(), now_s);
      return drop(DropReason::rate_limited);
    }
    case RateLimiter::Verdict::drop:
      return drop(DropReason::rate_limited);
  }

  std::string_view payload(static_cast<const char*>(ev.payload), ev.payloadlen);
  UplinkDecision decision =
      decide_uplink(session->device_ref, *parsed, payload, now_ms, options_.devices.max_payload_bytes);
  if (decision.drop) return drop(*decision.drop);
  if (decision.row) {
    if (!writer_->add(*decision.row)) return drop(DropReason::queue_full);
    events_->publish(EventKind::telemetry, session->identity, [&] {
      return telemetry_event_json(session->identity, parsed->metric, now_ms, payload);
    });
    touch(*session, now_s);
  } else if (decision.update) {
    const std::optional<std::string> version = decision.update->firmware_version;
    if (!writer_->add(std::move(*decision.update))) return drop(DropReason::queue_full);
    events_->publish(EventKind::state, session->identity,
                     [&] { return state_event_json(session->identity, payload); });
    session->last_seen_written = now_s;
    if (version) ota_uplink(session->identity, version, nullptr, now_s);
  } else {
    if (decision.ota_status) ota_uplink(session->identity, std::nullopt, &*decision.ota_status, now_s);
    // ota/status and config/status: the rollout and zone features consume
    // the parsed reports as they land.
    if (decision.config_status && !zone_status(*session, *decision.config_status, now_s)) {
      return drop(DropReason::queue_full);
    }
    touch(*session, now_s);
  }
  return MOSQ_ERR_SUCCESS;
}

}  // namespace rs1
