// Signed firmware URLs (SPEC §7, features/ota/signing) as the listener
// gets them: the query string parsed by httplib, its parameters handed to
// verify_firmware_url. A URL we signed verifies; a changed one does not
// verify as ok. Also the signing key file's parser. Input: a byte that
// chooses, then the text.
#include <httplib.h>

#include <string>

#include "core/identity.hpp"
#include "features/ota/signing.hpp"
#include "fuzz_support.hpp"

namespace {

const std::vector<rs1::SigningKey>& keys() {
  static const std::vector<rs1::SigningKey> k = {{"k1", std::string(32, '\x01')},
                                                 {"old-2", std::string(16, '\x02')}};
  return k;
}

// As httplib::Request::get_param_value: the first value, or "".
std::string param(const httplib::Params& params, const char* name) {
  auto range = params.equal_range(name);
  return range.first == range.second ? std::string() : range.first->second;
}

constexpr std::int64_t kNow = 1700000000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::fuzz::check;
  rs1::fuzz::Input in(data, size);
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  const std::uint8_t choice = in.byte();

  if (choice % 3 == 0) {  // the key file
    try {
      const auto parsed = rs1::parse_key_file(in.rest());
      check(!parsed.empty(), "a key file gives a key", whole, "none", "at least one");
      for (const auto& k : parsed) {
        check(!k.kid.empty() && k.kid.size() <= 32 && k.bytes.size() >= 16, "a key's form", whole,
              k.kid, "1-32 characters, 16+ bytes");
      }
    } catch (const std::runtime_error&) {
    }
    return 0;
  }

  // "<sha256>?<query>" as the route sees it: the path's last segment, then
  // the query text httplib parses.
  const std::string_view target = in.rest();
  const std::size_t q = target.find('?');
  const std::string sha256(target.substr(0, q));
  const std::string query(q == std::string_view::npos ? "" : target.substr(q + 1));
  httplib::Params params;
  httplib::detail::parse_query_text(query, params);
  const std::string device = param(params, "device"), expires = param(params, "expires"),
                    kid = param(params, "kid"), sig = param(params, "sig");
  const rs1::UrlVerdict verdict =
      rs1::verify_firmware_url(keys(), sha256, device, expires, kid, sig, kNow);

  if (choice % 3 == 1) return 0;
  // Sign what was given (when it can be signed) and verify the URL we made:
  // it must be ok before it expires, and every verdict on the fuzzed one
  // other than ok means some part differs from the signed one.
  if (!rs1::is_valid_device_id(device)) return 0;
  const std::int64_t exp = kNow + 1 + (choice >> 2);
  const std::string url = rs1::signed_firmware_url("https://h", keys()[0], sha256, device, exp);
  const std::string made_query = url.substr(url.find('?') + 1);
  httplib::Params made;
  httplib::detail::parse_query_text(made_query, made);
  const rs1::UrlVerdict made_verdict =
      rs1::verify_firmware_url(keys(), sha256, param(made, "device"), param(made, "expires"),
                               param(made, "kid"), param(made, "sig"), kNow);
  check(made_verdict == rs1::UrlVerdict::ok, "a URL we signed verifies", whole,
        rs1::url_verdict_name(made_verdict), "ok");
  if (verdict == rs1::UrlVerdict::ok) {
    check(kid == "k1" || kid == "old-2", "ok only with a known key", whole, kid, "k1 or old-2");
  }
  return 0;
}
