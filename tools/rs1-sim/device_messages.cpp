#include "device_messages.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace rs1::sim {

namespace {

using Json = nlohmann::json;

// Two decimals are what the sensors resolve; more would only pad the payload.
double round2(double v) { return std::round(v * 100.0) / 100.0; }

double walk(std::mt19937_64& rng, double value, double step, double lo, double hi) {
  value += std::uniform_real_distribution<double>(-step, step)(rng);
  return std::clamp(value, lo, hi);
}

Json parse_object(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, false);
  return j.is_object() ? j : Json();
}

std::optional<std::int64_t> integer_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  // An unsigned value past int64 is no use to anyone here.
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX) return std::nullopt;
  return it->get<std::int64_t>();
}

bool is_sha256_hex(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Readings Readings::initial(std::mt19937_64& rng) {
  auto in = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  Readings r;
  r.temp_c = in(19, 24);
  r.humidity_pct = in(30, 55);
  r.co2_ppm = in(420, 900);
  r.lux = in(50, 600);
  r.pressure_hpa = in(1000, 1025);
  r.noise_db = in(30, 45);
  r.people = std::uniform_int_distribution<int>(0, 3)(rng);
  r.rssi_dbm = std::uniform_int_distribution<int>(-80, -45)(rng);
  return r;
}

void Readings::drift(std::mt19937_64& rng) {
  temp_c = walk(rng, temp_c, 0.1, 15, 30);
  humidity_pct = walk(rng, humidity_pct, 0.5, 20, 70);
  co2_ppm = walk(rng, co2_ppm, 15, 400, 2000);
  lux = walk(rng, lux, 20, 0, 1000);
  pressure_hpa = walk(rng, pressure_hpa, 0.2, 980, 1040);
  noise_db = walk(rng, noise_db, 1, 25, 70);
  people = std::clamp(people + std::uniform_int_distribution<int>(-1, 1)(rng), 0, 6);
  rssi_dbm = std::clamp(rssi_dbm + std::uniform_int_distribution<int>(-2, 2)(rng), -90, -35);
}

std::string state_payload(const std::string& firmware_version, std::int64_t uptime_s,
                          int rssi_dbm) {
  return Json{{"firmware_version", firmware_version},
              {"model", "RS-1"},
              {"uptime_s", uptime_s},
              {"rssi_dbm", rssi_dbm}}
      .dump();
}

std::string telemetry_payload(const Readings& r, std::uint64_t seq, std::int64_t uptime_s) {
  return Json{{"seq", seq},
              {"temp_c", round2(r.temp_c)},
              {"humidity_pct", round2(r.humidity_pct)},
              {"co2_ppm", std::lround(r.co2_ppm)},
              {"lux", round2(r.lux)},
              {"pressure_hpa", round2(r.pressure_hpa)},
              {"noise_db", round2(r.noise_db)},
              {"presence", r.people > 0},
              {"people", r.people},
              {"rssi_dbm", r.rssi_dbm},
              {"uptime_s", uptime_s}}
      .dump();
}

std::optional<ConfigReply> config_reply(std::string_view update) {
  Json j = parse_object(update);
  if (j.is_null()) return std::nullopt;
  auto version = integer_field(j, "version");
  if (!version || *version < 1) return std::nullopt;
  Json status = {{"version", *version}};
  ConfigReply reply;
  auto config = j.find("config");
  if (config == j.end()) {
    status["status"] = "rejected";
    status["error"] = "no \"config\"";
  } else if (!config->is_object()) {
    status["status"] = "rejected";
    status["error"] = "\"config\" is not an object";
  } else {
    status["status"] = "applied";
    reply.applied = true;
  }
  reply.payload = status.dump();
  return reply;
}

std::string diag_reply(std::string_view request, const DiagFacts& facts) {
  Json j = parse_object(request);
  Json answer = {{"request_id", nullptr}};
  auto id = j.is_object() ? j.find("request_id") : j.end();
  if (j.is_object() && id != j.end() && id->is_string()) {
    answer["request_id"] = *id;
  } else {
    answer["error"] =
        j.is_object() ? "no \"request_id\" string" : "the request is not a JSON object";
  }
  if (j.is_object()) {
    auto what = j.find("what");
    if (what != j.end() && what->is_array()) answer["what"] = *what;
  }
  answer["firmware_version"] = facts.firmware_version;
  answer["uptime_s"] = facts.uptime_s;
  answer["rssi_dbm"] = facts.rssi_dbm;
  answer["reconnects"] = facts.reconnects;
  answer["telemetry_sent"] = facts.telemetry_sent;
  // A plausible heap on a small MCU, varying a little so charts move.
  answer["free_heap_bytes"] = 96 * 1024 - static_cast<std::int64_t>(facts.telemetry_sent % 4096);
  return answer.dump();
}

TriggerParse parse_ota_trigger(std::string_view payload, std::int64_t now_s) {
  TriggerParse out;
  Json j = parse_object(payload);
  if (j.is_null()) return out;
  auto rollout_id = integer_field(j, "rollout_id");
  auto version = j.find("version");
  // ota/status requires both (SPEC §5): without them nothing can be reported.
  if (!rollout_id || *rollout_id < 0 || version == j.end() || !version->is_string() ||
      version->get<std::string>().empty() || version->get<std::string>().size() > 64) {
    return out;
  }
  OtaTrigger t;
  t.rollout_id = *rollout_id;
  t.version = version->get<std::string>();
  out.trigger = t;

  auto url = j.find("url");
  if (url == j.end() || !url->is_string()) {
    out.error = "the trigger has no \"url\" string";
    return out;
  }
  t.url = url->get<std::string>();
  if (t.url.rfind("http://", 0) != 0 && t.url.rfind("https://", 0) != 0) {
    out.error = "unsupported URL (not http or https): " + t.url;
    return out;
  }
  auto sha = j.find("sha256");
  if (sha == j.end() || !sha->is_string()) {
    out.error = "the trigger has no \"sha256\" string";
    return out;
  }
  t.sha256 = sha->get<std::string>();
  std::transform(t.sha256.begin(), t.sha256.end(), t.sha256.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!is_sha256_hex(t.sha256)) {
    out.error = "the trigger's \"sha256\" is not 64 hex characters";
    return out;
  }
  auto size = integer_field(j, "size");
  if (!size || *size < 0) {
    out.error = "the trigger has no \"size\" (a non-negative integer)";
    return out;
  }
  t.size = *size;
  auto expires_at = integer_field(j, "expires_at");
  if (!expires_at) {
    out.error = "the trigger has no integer \"expires_at\"";
    return out;
  }
  t.expires_at = *expires_at;
  out.trigger = t;
  if (t.expires_at < now_s) {
    out.error = "the trigger expired at " + std::to_string(t.expires_at) + " (now " +
                std::to_string(now_s) + ")";
  }
  return out;
}

std::string ota_status_payload(std::int64_t rollout_id, const std::string& version,
                               const std::string& status, int progress, const std::string& error) {
  Json j = {{"rollout_id", rollout_id},
            {"version", version},
            {"status", status},
            {"progress", std::clamp(progress, 0, 100)}};
  if (!error.empty()) j["error"] = error;
  return j.dump();
}

}  // namespace rs1::sim
