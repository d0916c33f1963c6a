// What a simulated device says and how it reads its downlinks
// (tools/rs1-sim/device_messages.hpp). Everything it sends must pass the
// plugin's own payload checks (core/payload.hpp), or the broker would drop it.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/json_scan.hpp"
#include "core/payload.hpp"
#include "rs1-sim/device_messages.hpp"

using nlohmann::json;
using namespace rs1::sim;

namespace {

const std::string kImageSha(64, 'c');

std::string trigger_text(json changes) {
  json t = {{"rollout_id", 7}, {"version", "2.0.0"}, {"url", "http://127.0.0.1:8080/firmware/x"},
            {"sha256", kImageSha},  {"size", 1024},       {"expires_at", 1000}};
  for (auto& [key, value] : changes.items()) {
    if (value.is_null()) {
      t.erase(key);
    } else {
      t[key] = value;
    }
  }
  return t.dump();
}

}  // namespace

TEST_CASE("sim device messages: state and telemetry are what the plugin accepts", "[sim]") {
  std::string state = state_payload("1.4.2", 12, -61);
  CHECK(rs1::is_json_object(state));
  auto parsed = rs1::parse_state(state);
  REQUIRE(parsed);
  CHECK(parsed->firmware_version == "1.4.2");

  std::mt19937_64 rng(GENERATE(1u, 2u, 3u));
  Readings r = Readings::initial(rng);
  for (std::uint64_t seq = 0; seq < 20000; ++seq) {
    r.drift(rng);
    if (seq % 997 != 0) continue;
    std::string p = telemetry_payload(r, seq * 1000003, static_cast<std::int64_t>(seq) * 10);
    CAPTURE(p);
    CHECK(rs1::is_json_object(p));
    CHECK(p.size() >= 150);
    CHECK(p.size() <= 260);
    json j = json::parse(p);
    // The plugin aggregates numeric top-level fields: the readings are numbers.
    for (const char* field : {"seq", "temp_c", "humidity_pct", "co2_ppm", "lux", "pressure_hpa",
                              "noise_db", "people", "rssi_dbm", "uptime_s"}) {
      CAPTURE(field);
      CHECK(j[field].is_number());
    }
    // The walk stays in a room's range.
    CHECK(j["temp_c"] >= 15);
    CHECK(j["temp_c"] <= 30);
    CHECK(j["people"] >= 0);
    CHECK(j["people"] <= 6);
  }
}

TEST_CASE("sim device messages: a config update is applied, rejected or left unanswered", "[sim]") {
  using Row = std::tuple<std::string, std::optional<std::string>>;
  auto [update, expected] = GENERATE(table<std::string, std::optional<std::string>>({
      Row{R"({"version":3,"config":{"zones":[],"sensitivity":5}})",
          R"({"status":"applied","version":3})"},
      Row{R"({"version":3,"config":{},"extra":1})", R"({"status":"applied","version":3})"},
      Row{R"({"version":4,"config":"zones"})",
          R"({"error":"\"config\" is not an object","status":"rejected","version":4})"},
      Row{R"({"version":5,"config":[]})",
          R"({"error":"\"config\" is not an object","status":"rejected","version":5})"},
      Row{R"({"version":6})", R"({"error":"no \"config\"","status":"rejected","version":6})"},
      // No version config/status could name: no answer.
      Row{R"({"config":{}})", std::nullopt},
      Row{R"({"version":0,"config":{}})", std::nullopt},
      Row{R"({"version":-2,"config":{}})", std::nullopt},
      Row{R"({"version":"3","config":{}})", std::nullopt},
      Row{R"({"version":3.5,"config":{}})", std::nullopt},
      Row{R"({"version":18446744073709551615,"config":{}})", std::nullopt},
      Row{"[1]", std::nullopt},
      Row{"not json", std::nullopt},
      Row{"", std::nullopt},
  }));
  CAPTURE(update);
  auto reply = config_reply(update);
  REQUIRE(reply.has_value() == expected.has_value());
  if (!reply) return;
  CHECK(json::parse(reply->payload) == json::parse(*expected));
  CHECK(reply->applied == (json::parse(*expected)["status"] == "applied"));
  auto status = rs1::parse_config_status(reply->payload);
  REQUIRE(status);
  CHECK(status->status == json::parse(*expected)["status"]);
}

TEST_CASE("sim device messages: a diagnostic answer carries the request id", "[sim]") {
  DiagFacts facts{"1.2.3", 3600, -58, 2, 77};
  json a = json::parse(diag_reply(R"({"request_id":"r-1","what":["wifi","uptime"]})", facts));
  CHECK(a["request_id"] == "r-1");
  CHECK(a["what"] == json({"wifi", "uptime"}));
  CHECK(a["firmware_version"] == "1.2.3");
  CHECK(a["uptime_s"] == 3600);
  CHECK(a["rssi_dbm"] == -58);
  CHECK(a["reconnects"] == 2);
  CHECK(a["free_heap_bytes"].is_number_integer());
  CHECK_FALSE(a.contains("error"));

  // Without a usable id the answer still comes, saying what was wrong.
  for (const char* bad : {R"({"what":["wifi"]})", R"({"request_id":5})", "nonsense", "[]"}) {
    CAPTURE(bad);
    std::string text = diag_reply(bad, facts);
    CHECK(rs1::is_json_object(text));
    json b = json::parse(text);
    CHECK(b["request_id"].is_null());
    CHECK(b["error"].is_string());
  }
}

TEST_CASE("sim device messages: an OTA trigger is followed, refused with a reason, or ignored",
          "[sim]") {
  const std::int64_t now = 1000;
  SECTION("a good trigger") {
    TriggerParse p = parse_ota_trigger(trigger_text(json::object()), now);
    REQUIRE(p.trigger);
    CHECK(p.error.empty());
    CHECK(p.trigger->rollout_id == 7);
    CHECK(p.trigger->version == "2.0.0");
    CHECK(p.trigger->url == "http://127.0.0.1:8080/firmware/x");
    CHECK(p.trigger->sha256 == kImageSha);
    CHECK(p.trigger->size == 1024);
    CHECK(p.trigger->expires_at == 1000);  // expires at the end of that second
    // An upper-case digest means the same bytes.
    p = parse_ota_trigger(trigger_text({{"sha256", std::string(64, 'C')}}), now);
    CHECK(p.error.empty());
    CHECK(p.trigger->sha256 == kImageSha);
    p = parse_ota_trigger(trigger_text({{"url", "https://cdn.example/fw"}}), now);
    CHECK(p.error.empty());
  }
  SECTION("a trigger that cannot be followed names why, and what to report against") {
    using Row = std::tuple<json, std::string>;
    auto [changes, error] = GENERATE(table<json, std::string>({
        Row{{{"expires_at", 999}}, "the trigger expired at 999 (now 1000)"},
        Row{{{"url", nullptr}}, "the trigger has no \"url\" string"},
        Row{{{"url", 5}}, "the trigger has no \"url\" string"},
        Row{{{"url", "ftp://host/fw"}}, "unsupported URL (not http or https): ftp://host/fw"},
        Row{{{"sha256", nullptr}}, "the trigger has no \"sha256\" string"},
        Row{{{"sha256", std::string(63, 'a')}},
            "the trigger's \"sha256\" is not 64 hex characters"},
        Row{{{"sha256", std::string(63, 'a') + "g"}},
            "the trigger's \"sha256\" is not 64 hex characters"},
        Row{{{"size", nullptr}}, "the trigger has no \"size\" (a non-negative integer)"},
        Row{{{"size", -1}}, "the trigger has no \"size\" (a non-negative integer)"},
        Row{{{"size", "1024"}}, "the trigger has no \"size\" (a non-negative integer)"},
        Row{{{"expires_at", nullptr}}, "the trigger has no integer \"expires_at\""},
    }));
    CAPTURE(changes.dump());
    TriggerParse p = parse_ota_trigger(trigger_text(changes), now);
    REQUIRE(p.trigger);
    CHECK(p.trigger->rollout_id == 7);
    CHECK(p.trigger->version == "2.0.0");
    CHECK(p.error == error);
  }
  SECTION("without a rollout and a version there is nothing to report against") {
    auto changes =
        GENERATE(json{{"rollout_id", nullptr}}, json{{"rollout_id", -1}}, json{{"rollout_id", "7"}},
                 json{{"version", nullptr}}, json{{"version", ""}},
                 json{{"version", std::string(65, 'v')}}, json{{"version", 2}});
    CAPTURE(changes.dump());
    TriggerParse p = parse_ota_trigger(trigger_text(changes), now);
    CHECK_FALSE(p.trigger);
    CHECK_FALSE(parse_ota_trigger("not json", now).trigger);
    CHECK_FALSE(parse_ota_trigger("[]", now).trigger);
  }
}

TEST_CASE("sim device messages: every OTA status passes the plugin's schema", "[sim]") {
  for (const char* status : {"downloading", "verifying", "installing", "success", "failed"}) {
    CAPTURE(status);
    std::string p = ota_status_payload(7, "2.0.0", status, 50);
    auto parsed = rs1::parse_ota_status(p);
    REQUIRE(parsed);
    CHECK(parsed->rollout_id == 7);
    CHECK(parsed->version == "2.0.0");
    CHECK(parsed->status == status);
    CHECK(parsed->progress == 50);
    CHECK_FALSE(parsed->error);
  }
  auto failed =
      rs1::parse_ota_status(ota_status_payload(7, "2.0.0", "failed", 30, "sha256 mismatch"));
  REQUIRE(failed);
  CHECK(failed->error == "sha256 mismatch");
  // Progress stays in 0-100 whatever the caller computed.
  CHECK(rs1::parse_ota_status(ota_status_payload(1, "v", "downloading", 140))->progress == 100);
  CHECK(rs1::parse_ota_status(ota_status_payload(1, "v", "downloading", -3))->progress == 0);
}
