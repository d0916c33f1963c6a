#include "http/compression.hpp"

#include <httplib.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>

#include "http/http_listener.hpp"

namespace rs1 {
namespace {

constexpr std::size_t kMinBytes = 1024;

bool compressible(const std::string& content_type) {
  const std::string type = content_type.substr(0, content_type.find(';'));
  if (type == "text/event-stream") return false;
  return type.rfind("text/", 0) == 0 || type == "application/json" ||
         type == "application/problem+json" || type == "image/svg+xml";
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string gzip_of(const std::string& data, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END || out.size() * 10 > data.size() * 9) return {};
  return out;
}

bool accepts_gzip(const httplib::Request& req) {
  // "gzip", "gzip;q=0.5", "x-gzip"; not "gzip;q=0".
  const std::string value = lower(req.get_header_value(kAcceptEncodingHeader));
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    std::string item = value.substr(start, end - start);
    item.erase(std::remove_if(item.begin(), item.end(),
                              [](unsigned char c) { return std::isspace(c) != 0; }),
               item.end());
    const std::size_t semi = item.find(';');
    const std::string coding = item.substr(0, semi);
    if (coding == "gzip" || coding == "x-gzip" || coding == "*") {
      const std::string params = semi == std::string::npos ? "" : item.substr(semi + 1);
      const bool refused =
          params.rfind("q=0", 0) == 0 && params.find_first_not_of("q=0.", 0) == std::string::npos;
      return !refused;
    }
    start = end + 1;
  }
  return false;
}

void compress_answer(const httplib::Request& req, httplib::Response& res) {
  if (res.body.size() < kMinBytes || res.has_header("Content-Encoding")) return;
  if (!compressible(res.get_header_value("Content-Type"))) return;
  res.set_header("Vary", "Accept-Encoding");
  if (!accepts_gzip(req)) return;
  std::string zipped = gzip_of(res.body, 6);
  if (zipped.empty()) return;
  res.body = std::move(zipped);
  res.set_header("Content-Encoding", "gzip");
}

}  // namespace rs1
