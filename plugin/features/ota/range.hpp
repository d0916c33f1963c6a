// HTTP Range (RFC 9110 §14) for firmware downloads: one range of bytes of a
// file of known size, so a device can resume a broken download. Pure.
#pragma once

#include <cstdint>
#include <string_view>

namespace rs1 {

struct ByteRange {
  enum class Kind {
    whole,          // no Range, or one we ignore (multiple ranges, another unit): 200
    partial,        // 206 with [first, last]
    unsatisfiable,  // 416 with Content-Range: bytes */size
  };
  Kind kind = Kind::whole;
  std::int64_t first = 0;
  std::int64_t last = 0;  // inclusive
};

// `header` is the Range header's value (empty when absent). Single ranges
// only: "bytes=a-b", "bytes=a-", "bytes=-n". A malformed header is ignored
// (the whole file), as RFC 9110 §14.2 says; so is one of several ranges
// (a server may ignore Range; a resuming device asks for one); a
// well-formed one that selects no byte of the file (a number past 64 bits
// included) is unsatisfiable.
ByteRange parse_range(std::string_view header, std::int64_t size);

}  // namespace rs1
