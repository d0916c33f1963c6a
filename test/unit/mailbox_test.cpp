// The mailbox other threads post to and the broker thread takes from in
// TICK: posting order is kept across message types, take() empties it, and
// concurrent posters lose nothing.
#include "runtime/mailbox.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

using namespace rs1;

namespace {

struct Line {
  std::string text;
};
struct Count {
  int poster = 0;
  int n = 0;
};
using TestMailbox = Mailbox<Line, Count>;

}  // namespace

TEST_CASE("mailbox: posting order is kept across message types", "[mailbox]") {
  TestMailbox box;
  box.post(Line{"a"});
  box.post(Count{0, 1});
  box.post(Line{"b"});
  Count c{0, 2};
  box.post(c);  // an lvalue is copied
  box.post(Line{"c"});

  auto messages = box.take();
  REQUIRE(messages.size() == 5);
  CHECK(std::get<Line>(messages[0]).text == "a");
  CHECK(std::get<Count>(messages[1]).n == 1);
  CHECK(std::get<Line>(messages[2]).text == "b");
  CHECK(std::get<Count>(messages[3]).n == 2);
  CHECK(std::get<Line>(messages[4]).text == "c");
}

TEST_CASE("mailbox: take() empties it, and later posts come in the next take", "[mailbox]") {
  TestMailbox box;
  CHECK(box.take().empty());
  box.post(Line{"first"});
  CHECK(box.take().size() == 1);
  CHECK(box.take().empty());
  CHECK(box.drain([](auto&) { FAIL("nothing to visit"); }) == 0);

  box.post(Count{0, 7});
  box.post(Line{"second"});
  std::vector<std::string> seen;
  std::size_t n = box.drain([&](auto& m) {
    using T = std::decay_t<decltype(m)>;
    if constexpr (std::is_same_v<T, Line>) {
      seen.push_back("line:" + m.text);
    } else {
      seen.push_back("count:" + std::to_string(m.n));
    }
  });
  CHECK(n == 2);
  CHECK(seen == std::vector<std::string>{"count:7", "line:second"});
  CHECK(box.take().empty());
}

TEST_CASE("mailbox: concurrent posters lose nothing and keep their own order", "[mailbox]") {
  constexpr int kPosters = 4;
  constexpr int kEach = 20000;
  TestMailbox box;
  std::atomic<int> done{0};
  std::vector<std::thread> posters;
  for (int p = 0; p < kPosters; ++p) {
    posters.emplace_back([&box, &done, p] {
      for (int i = 0; i < kEach; ++i) {
        if (i % 2) {
          box.post(Count{p, i});
        } else {
          box.post(Line{std::to_string(p) + ":" + std::to_string(i)});
        }
      }
      ++done;
    });
  }
  // The consumer takes while they post, as TICK does.
  std::vector<TestMailbox::Message> all;
  auto take_some = [&] {
    for (auto& m : box.take()) all.push_back(std::move(m));
  };
  while (done.load() < kPosters) {
    take_some();
    std::this_thread::yield();
  }
  for (auto& t : posters) t.join();
  take_some();

  REQUIRE(all.size() == static_cast<std::size_t>(kPosters * kEach));
  std::vector<int> next(kPosters, 0);  // each poster's messages arrive in its order
  for (const auto& m : all) {
    int p = 0;
    int i = 0;
    if (const auto* c = std::get_if<Count>(&m)) {
      p = c->poster;
      i = c->n;
    } else {
      const std::string& text = std::get<Line>(m).text;
      auto colon = text.find(':');
      p = std::stoi(text.substr(0, colon));
      i = std::stoi(text.substr(colon + 1));
    }
    REQUIRE(p >= 0);
    REQUIRE(p < kPosters);
    REQUIRE(i == next[p]);
    ++next[p];
  }
  for (int p = 0; p < kPosters; ++p) CHECK(next[p] == kEach);
}
