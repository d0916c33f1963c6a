// The one way other threads (the writer, the change feed, the scheduler's
// jobs) hand work to the broker thread, which alone may call Mosquitto: a
// mutex-guarded list of messages, each one of the variant's types, taken
// whole in TICK. Posting is O(1) and never blocks on the broker thread for
// longer than the swap.
#pragma once

#include <cstddef>
#include <mutex>
#include <utility>
#include <variant>
#include <vector>

namespace rs1 {

template <typename... Messages>
class Mailbox {
 public:
  using Message = std::variant<Messages...>;

  template <typename T>
  void post(T&& message) {
    std::lock_guard<std::mutex> lock(mu_);
    messages_.emplace_back(std::forward<T>(message));
  }

  // Everything posted so far, in posting order; the mailbox is empty after.
  std::vector<Message> take() {
    std::vector<Message> out;
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(messages_);
    return out;
  }

  // Takes everything and calls `visitor` on each message, in order.
  template <typename Visitor>
  std::size_t drain(Visitor&& visitor) {
    auto messages = take();
    for (auto& m : messages) std::visit(visitor, m);
    return messages.size();
  }

 private:
  std::mutex mu_;
  std::vector<Message> messages_;
};

}  // namespace rs1
