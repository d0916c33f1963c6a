// A PUBLISH resent with DUP, sent by hand on a raw socket: what subscribers
// receive and what is stored. Mosquitto 2.0 fires MESSAGE before it looks up
// the packet id among a QoS 2 sender's messages awaiting PUBREL, and the event
// carries neither the packet id nor the DUP flag, so the plugin cannot tell a
// resend from a second reading with the same bytes (README "Resends and
// duplicates"). These tests pin that behaviour, and the case any content-based
// de-duplication would break.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace rs1;
using namespace rs1::it;

namespace {

const BrokerConfig kFastFlush = opts({{"ingest_flush_ms", "50"}});
constexpr int kPubAck = 4, kPubRec = 5, kPubComp = 7;
const std::string kTopic = "opticworks/dev-a/telemetry/presence";
const std::string kReading = R"({"present":true,"ts":1764633600})";

// The next packet on `raw`, which must be `type` for `mid`.
void expect_ack(RawMqttConnection& raw, int type, int mid) {
  auto p = raw.read_packet();
  REQUIRE(p);
  CHECK(p->type() == type);
  CHECK(p->ack_mid() == mid);
}

// Every message `sub` receives within `quiet` of the last.
std::size_t drain(MqttClient& sub, Millis quiet = 700ms) {
  std::size_t n = 0;
  while (sub.wait_for_message(quiet)) ++n;
  return n;
}

}  // namespace

TEST_CASE(
    "resends: a QoS 2 PUBLISH resent with DUP before PUBREL reaches subscribers once "
    "and is stored twice",
    "[resend][qos2]") {
  DeviceAndService t(kFastFlush);
  auto sub = connect_account(t.broker, t.svc);
  REQUIRE(sub->subscribe("opticworks/+/telemetry/#", 2) == 2);
  RawMqttConnection raw;
  REQUIRE(raw.connect(t.broker.port(), t.dev.id, t.dev.id, t.dev.password(), 60) == 0);

  raw.publish(kTopic, kReading, 2, 7, /*dup=*/false);
  expect_ack(raw, kPubRec, 7);
  raw.publish(kTopic, kReading, 2, 7, /*dup=*/true);  // as if the PUBREC was lost
  expect_ack(raw, kPubRec, 7);
  raw.pubrel(7);
  expect_ack(raw, kPubComp, 7);

  CHECK(drain(*sub) == 1);
  // The plugin saw two identical MESSAGE events and cannot tell them apart.
  CHECK(wait_until([&] { return t.fleet.telemetry_count(t.dev.id) == 2; }, 5s));
}

TEST_CASE(
    "resends: a QoS 2 PUBLISH resent after a reconnect to a persistent session reaches "
    "subscribers once and is stored twice",
    "[resend][qos2][sessions]") {
  DeviceAndService t(kFastFlush);
  auto sub = connect_account(t.broker, t.svc);
  REQUIRE(sub->subscribe("opticworks/+/telemetry/#", 2) == 2);
  {
    RawMqttConnection raw;
    REQUIRE(raw.connect(t.broker.port(), t.dev.id, t.dev.id, t.dev.password(), 60, 5s,
                        /*clean_session=*/false) == 0);
    raw.publish(kTopic, kReading, 2, 11, false);
    expect_ack(raw, kPubRec, 11);
    raw.drop();  // gone before PUBREL
  }
  REQUIRE(wait_until([&] { return !t.fleet.online(t.dev.id); }, 5s));
  RawMqttConnection raw;
  REQUIRE(raw.connect(t.broker.port(), t.dev.id, t.dev.id, t.dev.password(), 60, 5s, false) == 0);
  // The broker kept the session, and with it message 11 awaiting PUBREL.
  REQUIRE(raw.session_present());
  raw.publish(kTopic, kReading, 2, 11, /*dup=*/true);
  expect_ack(raw, kPubRec, 11);
  raw.pubrel(11);
  expect_ack(raw, kPubComp, 11);

  CHECK(drain(*sub) == 1);
  CHECK(wait_until([&] { return t.fleet.telemetry_count(t.dev.id) == 2; }, 5s));
}

TEST_CASE(
    "resends: a QoS 1 PUBLISH resent after a lost PUBACK is delivered twice and stored "
    "twice",
    "[resend][qos1]") {
  DeviceAndService t(kFastFlush);
  auto sub = connect_account(t.broker, t.svc);
  REQUIRE(sub->subscribe("opticworks/+/telemetry/#", 1) == 1);
  RawMqttConnection raw;
  REQUIRE(raw.connect(t.broker.port(), t.dev.id, t.dev.id, t.dev.password(), 60) == 0);

  raw.publish(kTopic, kReading, 1, 9, false);
  expect_ack(raw, kPubAck, 9);
  raw.publish(kTopic, kReading, 1, 9, /*dup=*/true);
  expect_ack(raw, kPubAck, 9);

  // QoS 1 is at least once: the broker routes the resend as a new message,
  // and the database holds what the subscribers got.
  CHECK(drain(*sub) == 2);
  CHECK(wait_until([&] { return t.fleet.telemetry_count(t.dev.id) == 2; }, 5s));
}

TEST_CASE("resends: two identical QoS 2 readings under different packet ids are two rows",
          "[resend][qos2]") {
  DeviceAndService t(kFastFlush);
  auto sub = connect_account(t.broker, t.svc);
  REQUIRE(sub->subscribe("opticworks/+/telemetry/#", 2) == 2);
  RawMqttConnection raw;
  REQUIRE(raw.connect(t.broker.port(), t.dev.id, t.dev.id, t.dev.password(), 60) == 0);

  // Both in flight at once, byte for byte the same: what a de-duplication by
  // content would wrongly merge.
  raw.publish(kTopic, kReading, 2, 1, false);
  expect_ack(raw, kPubRec, 1);
  raw.publish(kTopic, kReading, 2, 2, false);
  expect_ack(raw, kPubRec, 2);
  raw.pubrel(1);
  expect_ack(raw, kPubComp, 1);
  raw.pubrel(2);
  expect_ack(raw, kPubComp, 2);

  CHECK(drain(*sub) == 2);
  CHECK(wait_until([&] { return t.fleet.telemetry_count(t.dev.id) == 2; }, 5s));
}
