// Compression of HTTP answers, in one place: httplib never sees a request's
// Accept-Encoding (the listener renames it, kAcceptEncodingHeader), so an
// answer is compressed only here, with gzip, once.
#pragma once

#include <string>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace rs1 {

// gzip (RFC 1952) of `data` at `level` (1 fastest … 9 smallest), or empty
// when that would not save at least a tenth.
std::string gzip_of(const std::string& data, int level);

// Whether the request's Accept-Encoding takes gzip (not with q=0).
bool accepts_gzip(const httplib::Request& req);

// After a route (Routes wraps every handler in it): a body of at least 1 KiB of a compressible type
// (JSON, problem+json, text other than event streams, SVG) that is not encoded yet is gzipped at
// level 6 when the client takes it. Streamed answers (firmware, events) have no body here and are
// left alone.
void compress_answer(const httplib::Request& req, httplib::Response& res);

}  // namespace rs1
