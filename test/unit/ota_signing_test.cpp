// SPEC §7 signed URLs and §3's key file: vectors pinned from an independent
// HMAC-SHA256 implementation (Python's hmac module), rollover, and the
// checks a download URL must pass.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "features/ota/signing.hpp"
#include "unit_support.hpp"

using namespace rs1;

namespace {

const std::string kSha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string kKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

SigningKey key_of(const std::string& line) { return parse_key_file(line).front(); }

}  // namespace

TEST_CASE("ota signing: signatures match an independent HMAC-SHA256", "[ota]") {
  auto [device, expires, sig] = GENERATE(table<std::string, std::int64_t, std::string>({
      {"dev-a", 1700000000, "ba63811b2573845b43060f5adefbac5ca7a24cf2193160678b2d3c0d89b2ae28"},
      {"RS1_0042", 4102444800, "01d21fde72e5bec88f8b1d360a58755b314c06c8359194d9a3ef66815af01a19"},
  }));
  CAPTURE(device, expires);
  SigningKey key = key_of("k1:" + kKeyHex);
  CHECK(url_signature(key, kSha, device, expires) == sig);
  CHECK(signed_firmware_url("http://h:8080/", key, kSha, device, expires) ==
        "http://h:8080/firmware/" + kSha + "?device=" + device +
            "&expires=" + std::to_string(expires) + "&kid=k1&sig=" + sig);
}

TEST_CASE("ota signing: the first key signs, every key verifies (rollover)", "[ota]") {
  auto keys = parse_key_file(
      "# rolled over\nnew:726f6c6c6f7665722d6b65792d30313233343536373839616263646566\n\nk1:" +
      kKeyHex + "\n");
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].kid == "new");
  CHECK(url_signature(keys[0], kSha, "dev-b", 1) ==
        "d23a2e97100fb8747e5314f3c0bb72af674aabceccecf4fc6789d73fa0437148");
  const std::int64_t now = 1000;
  const std::string old_sig = url_signature(keys[1], kSha, "dev-a", 2000);
  CHECK(verify_firmware_url(keys, kSha, "dev-a", "2000", "k1", old_sig, now) == UrlVerdict::ok);
  const std::string new_sig = url_signature(keys[0], kSha, "dev-a", 2000);
  CHECK(verify_firmware_url(keys, kSha, "dev-a", "2000", "new", new_sig, now) == UrlVerdict::ok);
}

TEST_CASE("ota signing: what a URL check refuses", "[ota]") {
  auto keys = parse_key_file("k1:" + kKeyHex);
  const std::string sig = url_signature(keys[0], kSha, "dev-a", 2000);
  auto [sha, device, expires, kid, s, now, verdict] =
      GENERATE_REF(table<std::string, std::string, std::string, std::string, std::string,
                         std::int64_t, UrlVerdict>({
          {kSha, "dev-a", "2000", "k1", sig, 1999, UrlVerdict::ok},
          {kSha, "dev-a", "2000", "k1", sig, 2000, UrlVerdict::expired},  // expiry is exclusive
          {kSha, "dev-b", "2000", "k1", sig, 1000, UrlVerdict::bad_signature},  // another device
          {kSha, "dev-a", "2001", "k1", sig, 1000, UrlVerdict::bad_signature},  // expiry changed
          {kSha, "dev-a", "02000", "k1", sig, 1000, UrlVerdict::malformed},     // not as signed
          {kSha, "dev-a", "", "k1", sig, 1000, UrlVerdict::malformed},
          {kSha, "dev-a", "-1", "k1", sig, 1000, UrlVerdict::malformed},
          {kSha, "dev-a", "2000", "k2", sig, 1000, UrlVerdict::unknown_key},
          {kSha, "dev-a", "2000", "", sig, 1000, UrlVerdict::unknown_key},
          {kSha, "dev-a", "2000", "k1", "", 1000, UrlVerdict::malformed},
          {kSha, "dev/a", "2000", "k1", sig, 1000, UrlVerdict::malformed},
          {kSha, "dev-a", "2000", "k1", std::string(64, '0'), 1000, UrlVerdict::bad_signature},
          {std::string(64, 'a'), "dev-a", "2000", "k1", sig, 1000, UrlVerdict::bad_signature},
      }));
  CAPTURE(sha, device, expires, kid, s, now);
  CHECK(verify_firmware_url(keys, sha, device, expires, kid, s, now) == verdict);
}

TEST_CASE("ota signing: malformed key files are refused naming the line", "[ota]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"", "no key"},
      {"# only a comment\n", "no key"},
      {"k1" + kKeyHex, "line 1 is not KEYID:HEX"},
      {"k1:abc", "line 1: key must be an even number of hex digits, at least 32"},
      {"k1:" + std::string(30, 'a'), "at least 32"},
      {"k1:" + std::string(32, 'g'), "line 1: key is not hex"},
      {"\nk/1:" + kKeyHex, "line 2: key id"},
      {"k1:" + kKeyHex + "\nk1:" + kKeyHex, "line 2: key id k1 repeats"},
  }));
  CAPTURE(text);
  try {
    parse_key_file(text);
    FAIL("accepted");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(expected));
    CHECK_THAT(e.what(), !Catch::Contains(kKeyHex));
  }
}

TEST_CASE("ota signing: the key file is created 0600 with one 256-bit key, and checked", "[ota]") {
  rs1_test::TempDir dir;
  const std::string path = dir.file("signing.key");
  auto keys = ensure_key_file(path);
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].bytes.size() == 32);
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // Read again, the same key.
  CHECK(ensure_key_file(path)[0].bytes == keys[0].bytes);
  // Group or world access: refused.
  REQUIRE(chmod(path.c_str(), 0640) == 0);
  CHECK_THROWS_WITH(ensure_key_file(path), Catch::Contains("group or world may access it"));
  REQUIRE(chmod(path.c_str(), 0600) == 0);
  {
    std::ofstream out(path, std::ios::trunc);
    out << "garbage\n";
  }
  CHECK_THROWS_WITH(ensure_key_file(path), Catch::Contains("malformed: line 1"));
}

TEST_CASE("ota signing: the key file watch reloads a changed file, refuses a bad one once",
          "[ota]") {
  rs1_test::TempDir dir;
  const std::string path = dir.file("signing.key");
  const auto stamp = key_file_stamp(path);  // before the broker reads it
  CHECK_FALSE(stamp);
  auto keys = ensure_key_file(path);
  KeyFileWatch watch(path, keys, stamp);
  using O = KeyFileWatch::Result::Outcome;
  // Created by the broker after the stamp: the same keys, nothing to do.
  CHECK(watch.check().outcome == O::unchanged);
  CHECK(watch.check().outcome == O::unchanged);
  auto rewrite = [&](const std::string& text, mode_t mode = 0600) {
    const std::string tmp = path + ".new";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << text;
    }
    REQUIRE(chmod(tmp.c_str(), mode) == 0);
    REQUIRE(std::rename(tmp.c_str(), path.c_str()) == 0);
  };
  // A new key first: loaded, the new one first, the old one kept.
  std::ifstream in(path);
  std::string old_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  rewrite("k2:" + std::string(64, 'b') + "\n" + old_text);
  auto loaded = watch.check();
  REQUIRE(loaded.outcome == O::loaded);
  REQUIRE(loaded.keys.size() == 2);
  CHECK(loaded.keys[0].kid == "k2");
  CHECK(loaded.keys[1] == keys[0]);
  CHECK(watch.check().outcome == O::unchanged);
  // Malformed, or open to the group: refused with one line, reported once.
  auto [text, mode, expected] = GENERATE(table<std::string, mode_t, std::string>({
      {"k3:zz\n", 0600, "malformed: line 1"},
      {"", 0600, "malformed: no key"},
      {"k3:" + std::string(64, 'c') + "\n", 0640, "group or world may access it"},
  }));
  CAPTURE(text, mode);
  rewrite(text, mode);
  auto refused = watch.check();
  CHECK(refused.outcome == O::refused);
  CHECK_THAT(refused.error,
             Catch::StartsWith("signing_key_file " + path + ": ") && Catch::Contains(expected));
  CHECK(watch.check().outcome == O::unchanged);
  // The same good file back: loaded again (the refusal is over).
  rewrite("k2:" + std::string(64, 'b') + "\n" + old_text);
  auto back = watch.check();
  CHECK(back.outcome == O::loaded);
  CHECK(back.keys.size() == 2);
}
