#include "core/payload.hpp"

#include <nlohmann/json.hpp>

#include "core/json_scan.hpp"

namespace rs1 {
namespace {

using nlohmann::json;

std::optional<json> parse_object(std::string_view payload) {
  json doc = json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  return doc;
}

bool optional_string(const json& doc, const char* key, std::optional<std::string>& out) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

}  // namespace

const char* drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::too_large:
      return "too_large";
    case DropReason::not_json_object:
      return "not_json_object";
    case DropReason::invalid_schema:
      return "invalid_schema";
    case DropReason::rate_limited:
      return "rate_limited";
    case DropReason::queue_full:
      return "queue_full";
    case DropReason::invalid_metric:
      return "invalid_metric";
  }
  return "unknown";
}

std::vector<std::string> drop_reason_names() {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    out.emplace_back(drop_reason_name(static_cast<DropReason>(i)));
  }
  return out;
}

bool metric_within_limits(std::string_view metric) {
  if (metric.size() > kMaxMetricLength) return false;
  std::size_t levels = 1;
  for (char c : metric) levels += c == '/';
  return levels <= kMaxMetricLevels;
}

std::optional<OtaStatusReport> parse_ota_status(std::string_view payload) {
  auto doc = parse_object(payload);
  if (!doc) return std::nullopt;
  OtaStatusReport r;
  auto id = doc->find("rollout_id");
  if (id == doc->end() || !id->is_number_integer()) return std::nullopt;
  r.rollout_id = id->get<std::int64_t>();
  if (r.rollout_id < 0) return std::nullopt;
  auto version = doc->find("version");
  if (version == doc->end() || !version->is_string()) return std::nullopt;
  r.version = version->get<std::string>();
  if (r.version.empty() || r.version.size() > 64) return std::nullopt;
  auto status = doc->find("status");
  if (status == doc->end() || !status->is_string()) return std::nullopt;
  r.status = status->get<std::string>();
  if (r.status != "downloading" && r.status != "verifying" && r.status != "installing" &&
      r.status != "success" && r.status != "failed") {
    return std::nullopt;
  }
  auto progress = doc->find("progress");
  if (progress == doc->end() || !progress->is_number_integer()) return std::nullopt;
  auto p = progress->get<std::int64_t>();
  if (p < 0 || p > 100) return std::nullopt;
  r.progress = static_cast<int>(p);
  if (!optional_string(*doc, "error", r.error)) return std::nullopt;
  return r;
}

std::optional<ConfigStatusReport> parse_config_status(std::string_view payload) {
  auto doc = parse_object(payload);
  if (!doc) return std::nullopt;
  ConfigStatusReport r;
  auto version = doc->find("version");
  if (version == doc->end() || !version->is_number_integer()) return std::nullopt;
  r.version = version->get<std::int64_t>();
  if (r.version < 1) return std::nullopt;
  auto status = doc->find("status");
  if (status == doc->end() || !status->is_string()) return std::nullopt;
  r.status = status->get<std::string>();
  if (r.status != "applied" && r.status != "rejected") return std::nullopt;
  if (!optional_string(*doc, "error", r.error)) return std::nullopt;
  return r;
}

std::optional<StateReport> parse_state(std::string_view payload) {
  auto doc = parse_object(payload);
  if (!doc) return std::nullopt;
  StateReport r;
  for (const char* key : {"firmware_version", "version"}) {
    auto it = doc->find(key);
    if (it != doc->end() && it->is_string()) {
      r.firmware_version = it->get<std::string>();
      break;
    }
  }
  return r;
}

std::optional<DropReason> check_uplink(const ParsedTopic& topic, std::string_view payload,
                                       std::size_t max_payload_bytes) {
  const DeviceTopic kind = topic.kind;
  if (kind == DeviceTopic::telemetry && !metric_within_limits(topic.metric)) {
    return DropReason::invalid_metric;
  }
  if (payload.size() > max_payload_bytes) return DropReason::too_large;
  if (!is_json_object(payload)) return DropReason::not_json_object;
  switch (kind) {
    case DeviceTopic::ota_status:
      if (!parse_ota_status(payload)) return DropReason::invalid_schema;
      break;
    case DeviceTopic::config_status:
      if (!parse_config_status(payload)) return DropReason::invalid_schema;
      break;
    default:
      break;
  }
  return std::nullopt;
}

}  // namespace rs1
