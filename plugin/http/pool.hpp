// A small pool of objects made on demand by a factory, one checked out per
// user at a time: the HTTP listener's threads each take a store connection
// for one request instead of queueing behind a single one. Generic, so the
// listener never names a store type; the broker makes a Pool<Database>.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

namespace rs1 {

template <class T>
class Pool {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;

  // At most `max_size` objects exist at once; a checkout beyond that waits
  // for one to come back.
  Pool(std::size_t max_size, Factory make) : max_size_(max_size), make_(std::move(make)) {
    if (max_size_ == 0) throw std::invalid_argument("Pool: max_size must be > 0");
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // One object, returned to the pool when the Lease goes. A Lease must not
  // outlive its Pool.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), item_(std::move(other.item_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (item_) pool_->give_back(std::move(item_));
    }
    T& operator*() const { return *item_; }
    T* operator->() const { return item_.get(); }

   private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<T> item) : pool_(pool), item_(std::move(item)) {}
    Pool* pool_;
    std::unique_ptr<T> item_;
  };

  // An idle object, a new one while fewer than max_size exist, else waits.
  // Rethrows what the factory throws (and the slot stays free).
  Lease acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || made_ < max_size_; });
    if (!idle_.empty()) {
      std::unique_ptr<T> item = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(item));
    }
    ++made_;
    lock.unlock();
    try {
      return Lease(this, make_());
    } catch (...) {
      lock.lock();
      --made_;
      cv_.notify_one();
      throw;
    }
  }

  // Objects that exist now (idle or checked out).
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return made_;
  }

 private:
  void give_back(std::unique_ptr<T> item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.push_back(std::move(item));
    }
    cv_.notify_one();
  }

  const std::size_t max_size_;
  Factory make_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<T>> idle_;
  std::size_t made_ = 0;
};

}  // namespace rs1
