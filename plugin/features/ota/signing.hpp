// Signed firmware URLs (SPEC §7) and the signing key file (SPEC §3): one
// `KEYID:HEX` a line, the first key signs, every key verifies, so keys can
// be rolled over without breaking URLs already handed out. Pure except
// the key file's reading (ensure_key_file at broker start, KeyFileWatch
// while it runs) and SigningKeySet, the keys shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rs1 {

struct SigningKey {
  std::string kid;    // 1-32 characters of [A-Za-z0-9_-]
  std::string bytes;  // the key, decoded from HEX (at least 16 bytes)
  bool operator==(const SigningKey& o) const { return kid == o.kid && bytes == o.bytes; }
};

// Parses the key file's text. Blank lines and lines starting with '#' are
// skipped. Throws std::runtime_error naming the first bad line (or "no
// key"), never echoing key material.
std::vector<SigningKey> parse_key_file(std::string_view text);

// A fresh `KEYID:HEX` line: a random key id and 256 random bits.
std::string new_key_line();

// At broker start: creates `path` (0600, one fresh key) when it is absent;
// refuses (std::runtime_error, one line) a file with group or world access,
// an unreadable or malformed one. Returns the keys.
std::vector<SigningKey> ensure_key_file(const std::string& path);
// The same checks and parse, of a file that must exist (a reload).
std::vector<SigningKey> read_key_file(const std::string& path);

// What tells that the key file changed, whichever way it was written
// (in place, or a new file renamed over it; a chmod too).
struct KeyFileStamp {
  std::uint64_t dev = 0, ino = 0;
  std::int64_t size = 0, mtime_ns = 0, ctime_ns = 0;
  std::uint32_t mode = 0;
  bool operator==(const KeyFileStamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns &&
           ctime_ns == o.ctime_ns && mode == o.mode;
  }
};
// Nothing when the file cannot be stat'ed (gone).
std::optional<KeyFileStamp> key_file_stamp(const std::string& path);

// Key rollover while the broker runs: check() reads the file again once
// its stamp moved since the last check (or since `read_at`, taken before
// the broker read `in_use`), and says whether the keys changed or why the
// file was refused; a refused file is reported once, not at every check.
class KeyFileWatch {
 public:
  KeyFileWatch(std::string path, std::vector<SigningKey> in_use,
               std::optional<KeyFileStamp> read_at);
  struct Result {
    enum class Outcome { unchanged, loaded, refused };
    Outcome outcome = Outcome::unchanged;
    std::vector<SigningKey> keys;  // loaded
    std::string error;             // refused: one line, never key material
  };
  Result check();

 private:
  std::string path_;
  std::vector<SigningKey> in_use_;
  std::optional<KeyFileStamp> stamp_;
  bool refused_ = false;
};

// The keys in force, for threads other than the broker's (the HTTP
// listener's verifiers): replaced whole, read as a snapshot.
class SigningKeySet {
 public:
  explicit SigningKeySet(std::vector<SigningKey> keys);
  std::shared_ptr<const std::vector<SigningKey>> get() const;
  void set(std::vector<SigningKey> keys);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<SigningKey>> keys_;
};

// lowercase_hex(HMAC-SHA256(key, "<sha256>\n<device>\n<expires>")).
std::string url_signature(const SigningKey& key, std::string_view sha256,
                          std::string_view device_id, std::int64_t expires);

// <base>/firmware/<sha256>?device=<id>&expires=<unix>&kid=<keyid>&sig=<hex>
std::string signed_firmware_url(std::string_view base_url, const SigningKey& key,
                                std::string_view sha256, std::string_view device_id,
                                std::int64_t expires);

enum class UrlVerdict { ok, malformed, unknown_key, bad_signature, expired };
const char* url_verdict_name(UrlVerdict verdict);

// Checks a request's query parameters, as given (the expiry as its text, so
// "0900" is not the "900" that was signed). The signature is compared in
// constant time and checked before the expiry, so the answer says nothing
// about an unsigned URL's expiry.
UrlVerdict verify_firmware_url(const std::vector<SigningKey>& keys, std::string_view sha256,
                               std::string_view device_id, std::string_view expires,
                               std::string_view kid, std::string_view sig, std::int64_t now_s);

}  // namespace rs1
