// Identity (SPEC §4): device ids, the device password algorithm and account
// password hashes. Expected digests were computed outside this code base, at
// test-writing time, with the commands quoted next to them.
#include "core/identity.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "unit_support.hpp"

using namespace rs1;

namespace {

// The secret of SPEC §4's example device, and the hash the database keeps:
//   python3 -c 'import hashlib; print(hashlib.sha256(b"0011...eeff").hexdigest())'
// (the 64-character ASCII secret below), checked with
//   printf %s 0011...eeff | openssl dgst -sha256
constexpr const char* kSecret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr const char* kSecretHash =
    "2a8abfa8cb9906290437854193ca6bca41d4d4e26d1d454bd66a35158095e737";

// 2025-06-11T00:20:34Z, in hour 486000.
constexpr std::int64_t kHourNow = 486000LL * 3600 + 1234;

// Passwords of dev-a around kHourNow, from
//   python3 -c 'import hmac,hashlib; h=b"2a8abf...e737";
//     [print(n, hmac.new(h, f"dev-a:{n}".encode(), hashlib.sha256).hexdigest())
//      for n in range(485998, 486003)]'
// and for hour 486000 also with
//   printf %s dev-a:486000 | openssl dgst -sha256 -mac HMAC -macopt key:2a8abf...e737
constexpr const char* kPw485998 =
    "f7d1ccc4da281023217827920942da386cd395aa622989b6366f4bb8d0df824e";
constexpr const char* kPw485999 =
    "3c9baf61974b3184286a2de4859f9ae985b2d8e85ea7c1c3c6a1d918a052bce7";
constexpr const char* kPw486000 =
    "c7a3577251b9b406c4dced4f107c21a75a65eff86c44d8997585616b8f8271c0";
constexpr const char* kPw486001 =
    "dd2a0e635628239eea3bb276ea8a27ffbc98315ebc60f610f02a0a97550d8880";
constexpr const char* kPw486002 =
    "cb4a3827192684703e6828439cdf55ae407733b281a31409f649e0c50c922223";

std::string to_upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

}  // namespace

TEST_CASE("identity: sha256 and hmac match published vectors", "[identity]") {
  // FIPS 180-2 "abc" and the empty string; RFC 4231 test case 2.
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("identity: secret hash is sha256 of the 64-character ascii secret", "[identity]") {
  CHECK(sha256_hex(kSecret) == kSecretHash);
}

TEST_CASE("identity: device password vectors", "[identity]") {
  // The "dev-a" rows are in the comment at the top; the others from
  //   python3 -c 'import hmac,hashlib; h=b"2a8abf...e737";
  //     print(hmac.new(h, b"<id>:<hour>", hashlib.sha256).hexdigest())'
  auto [device_id, hour, expected] = GENERATE(table<std::string, std::int64_t, std::string>({
      {"dev-a", 486000, kPw486000},
      {"dev-a", 486001, kPw486001},
      {"dev-a", 0, "186d3736ddcd1dae207ce5d0f477a7f011a24775ae90290854c5325f18ed914e"},
      {"dev-b", 486000, "cef6f28f5eaf174e0c95543c8877814da462f5fb94ded77dabe2864ab93031a9"},
      {"sensor_01", -1, "5c148de16c8b4fe5ee43bd2b4372dc6c6c31143e9bd8b05d877181f566c10658"},
  }));
  CAPTURE(device_id, hour);
  CHECK(password_for_hour(kSecretHash, device_id, hour) == expected);
}

TEST_CASE("identity: verify_device_password accepts this hour and the previous one", "[identity]") {
  // password, clock_skew_ahead, accepted
  auto [password, skew, accepted] = GENERATE(table<std::string, bool, bool>({
      {kPw486000, false, true},   // now
      {kPw485999, false, true},   // now - 1
      {kPw485998, false, false},  // now - 2: too old
      {kPw486001, false, false},  // now + 1 needs clock_skew_ahead
      {kPw486001, true, true},
      {kPw486000, true, true},
      {kPw485999, true, true},
      {kPw485998, true, false},
      {kPw486002, true, false},  // now + 2 never
  }));
  CAPTURE(password, skew);
  CHECK(verify_device_password(kSecretHash, "dev-a", password, kHourNow, skew) == accepted);
}

TEST_CASE("identity: hour boundaries of verify_device_password", "[identity]") {
  // The first and last second of hour 486000 both accept its password and
  // the previous hour's; the first second of the next hour still accepts it
  // as "now - 1".
  CHECK(verify_device_password(kSecretHash, "dev-a", kPw486000, 486000LL * 3600, false));
  CHECK(verify_device_password(kSecretHash, "dev-a", kPw486000, 486001LL * 3600 - 1, false));
  CHECK(verify_device_password(kSecretHash, "dev-a", kPw486000, 486001LL * 3600, false));
  CHECK_FALSE(verify_device_password(kSecretHash, "dev-a", kPw486000, 486002LL * 3600, false));
  // Before the epoch the hour is floored, not truncated toward zero.
  CHECK(verify_device_password(kSecretHash, "sensor_01",
                               "5c148de16c8b4fe5ee43bd2b4372dc6c6c31143e9bd8b05d877181f566c10658",
                               -1, false));
}

TEST_CASE("identity: verify_device_password rejects wrong passwords", "[identity]") {
  const std::string good = kPw486000;
  auto [what, device_id, password] = GENERATE_COPY(table<std::string, std::string, std::string>({
      {"another device's id", "dev-b", good},
      {"id that extends the right one", "dev-ab", good},
      {"one character short", "dev-a", good.substr(0, 63)},
      {"one character long", "dev-a", good + "0"},
      {"empty", "dev-a", ""},
      {"uppercase hex", "dev-a", to_upper(good)},
      {"last digit changed", "dev-a", good.substr(0, 63) + "1"},
      {"the secret itself", "dev-a", kSecret},
      {"the secret hash", "dev-a", kSecretHash},
  }));
  CAPTURE(what, device_id, password);
  CHECK_FALSE(verify_device_password(kSecretHash, device_id, password, kHourNow, true));
}

TEST_CASE("identity: a password made from a different secret is rejected", "[identity]") {
  DeviceSecret other = new_device_secret();
  CHECK_FALSE(verify_device_password(
      kSecretHash, "dev-a", password_for_hour(other.secret_hash, "dev-a", 486000), kHourNow, false));
  CHECK(verify_device_password(other.secret_hash, "dev-a",
                               password_for_hour(other.secret_hash, "dev-a", 486000), kHourNow, false));
}

TEST_CASE("identity: device id rules", "[identity]") {
  auto [id, valid] = GENERATE(table<std::string, bool>({
      {"dev-a", true},
      {"A", true},
      {"Sensor_01-XYZ", true},
      {"0123456789", true},
      {std::string(64, 'x'), true},
      {std::string(65, 'x'), false},
      {"", false},
      {"dev+a", false},
      {"+", false},
      {"dev#", false},
      {"#", false},
      {"dev/a", false},
      {"dev a", false},
      {" dev", false},
      {"dev\t", false},
      {"d\xC3\xA9v", false},  // "dév" in UTF-8
      {"..", false},
      {".", false},
      {"dev.a", false},
      {"$SYS", false},
      {"dev:a", false},
      {std::string("dev\0a", 5), false},
  }));
  CAPTURE(id);
  CHECK(is_valid_device_id(id) == valid);
  CHECK(is_valid_account_name(id) == valid);
}

TEST_CASE("identity: hour_of floors toward minus infinity", "[identity]") {
  static_assert(hour_of(3600) == 1, "hour_of is usable at compile time");
  auto [seconds, hour] = GENERATE(table<std::int64_t, std::int64_t>({
      {0, 0},
      {1, 0},
      {3599, 0},
      {3600, 1},
      {7199, 1},
      {kHourNow, 486000},
      {-1, -1},
      {-3599, -1},
      {-3600, -1},
      {-3601, -2},
      {-7200, -2},
      {-7201, -3},
  }));
  CAPTURE(seconds);
  CHECK(hour_of(seconds) == hour);
}

TEST_CASE("identity: new device secrets are 64 lowercase hex and hashed as specified",
          "[identity]") {
  DeviceSecret a = new_device_secret();
  DeviceSecret b = new_device_secret();
  for (const DeviceSecret* s : {&a, &b}) {
    CAPTURE(s->secret);
    REQUIRE(s->secret.size() == 64);
    CHECK(s->secret.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(s->secret_hash == sha256_hex(s->secret));
    CHECK(s->secret_hash.size() == 64);
  }
  CHECK(a.secret != b.secret);
}

TEST_CASE("identity: account password hash vector", "[identity]") {
  // python3 -c 'import hashlib; print(hashlib.sha256(
  //   bytes.fromhex("000102030405060708090a0b0c0d0e0f") + b"correct horse").hexdigest())'
  const std::string salt = "000102030405060708090a0b0c0d0e0f";
  const std::string hash = "4ac7628e73d357ef4e766280d83143f038aca73ee89a1c8a6bf9b0acd607e0fa";
  CHECK(verify_account_password(salt, hash, "correct horse"));
  CHECK_FALSE(verify_account_password(salt, hash, "correct horse "));
  CHECK_FALSE(verify_account_password(salt, hash, "Correct horse"));
  CHECK_FALSE(verify_account_password(salt, hash, ""));
  // The salt is hashed as bytes, not as its hex text.
  CHECK_FALSE(verify_account_password("00", sha256_hex("00correct horse"), "correct horse"));
  // A salt that is not hex never verifies.
  CHECK_FALSE(verify_account_password("zz", hash, "correct horse"));
  CHECK_FALSE(verify_account_password("000", hash, "correct horse"));
}

TEST_CASE("identity: account password round trip with a fresh salt each time", "[identity]") {
  const std::string password = new_account_password();
  REQUIRE(password.size() == 40);  // 160 bits
  CHECK(password.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(new_account_password() != password);

  AccountPassword first = hash_account_password(password);
  AccountPassword second = hash_account_password(password);
  CHECK(first.salt_hex.size() == 32);
  CHECK(first.hash_hex.size() == 64);
  CHECK(first.salt_hex != second.salt_hex);
  CHECK(first.hash_hex != second.hash_hex);
  CHECK(verify_account_password(first.salt_hex, first.hash_hex, password));
  CHECK(verify_account_password(second.salt_hex, second.hash_hex, password));
  CHECK_FALSE(verify_account_password(first.salt_hex, first.hash_hex, password + "x"));
  CHECK_FALSE(verify_account_password(first.salt_hex, first.hash_hex, ""));
  CHECK_FALSE(verify_account_password(first.salt_hex, second.hash_hex, password));
}

TEST_CASE("identity: constant_time_equal", "[identity]") {
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "ab"));
  CHECK_FALSE(constant_time_equal("", "a"));
}
