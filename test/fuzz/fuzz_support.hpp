// What every harness shares: reading the input in pieces, and failing a
// differential or invariant check loudly (the input and both answers on
// stderr, then abort, which libFuzzer and the replay both report as a crash).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace rs1::fuzz {

// The input as text, printable: control and non-ASCII bytes as \xHH.
inline std::string escaped(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// A check that must hold for every input; `ours` and `expected` are the two
// answers that disagree (the code under test's, and the harness's).
inline void check(bool ok, const char* what, std::string_view input, const std::string& ours,
                  const std::string& expected) {
  if (ok) return;
  std::fprintf(stderr,
               "FUZZ CHECK FAILED: %s\n  input:    \"%s\"\n  ours:     %s\n  expected: %s\n", what,
               escaped(input).c_str(), ours.c_str(), expected.c_str());
  std::abort();
}

inline std::string yes_no(bool b) { return b ? "true" : "false"; }

// Takes the input apart: a few bytes that choose, then text.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size)
      : p_(reinterpret_cast<const char*>(data)), n_(size) {}
  std::uint8_t byte() {
    if (n_ == 0) return 0;
    --n_;
    return static_cast<std::uint8_t>(*p_++);
  }
  // Up to the next '\n' (not included), or the rest.
  std::string_view line() {
    std::size_t i = 0;
    while (i < n_ && p_[i] != '\n') ++i;
    std::string_view out(p_, i);
    const std::size_t used = i < n_ ? i + 1 : i;
    p_ += used;
    n_ -= used;
    return out;
  }
  std::string_view rest() {
    std::string_view out(p_, n_);
    p_ += n_;
    n_ = 0;
    return out;
  }
  bool empty() const { return n_ == 0; }
  std::size_t size() const { return n_; }

 private:
  const char* p_;
  std::size_t n_;
};

}  // namespace rs1::fuzz
