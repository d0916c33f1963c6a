#include "firmware_download.hpp"

#include <httplib.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <memory>

namespace rs1::sim {

namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::string to_hex(const unsigned char* data, unsigned int len) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0x0f];
  }
  return out;
}

}  // namespace

FirmwareDownloader::FirmwareDownloader(int threads) : max_threads_(std::max(1, threads)) {}

FirmwareDownloader::~FirmwareDownloader() {
  cancel_all();
  for (auto& t : threads_) t.join();
}

void FirmwareDownloader::start(std::string url, std::int64_t max_bytes, Progress progress,
                               Done done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return;
  queue_.push_back(Job{std::move(url), max_bytes, std::move(progress), std::move(done)});
  // A thread per queued job up to the limit; beyond, jobs wait their turn
  // (a rollout triggers hundreds of devices a minute).
  if (queue_.size() > static_cast<std::size_t>(idle_) &&
      threads_.size() < static_cast<std::size_t>(max_threads_)) {
    threads_.emplace_back([this] { work(); });
  }
  cv_.notify_one();
}

void FirmwareDownloader::cancel_all() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  queue_.clear();
  // Shuts the sockets down: a transfer stalled in a read ends now, not at
  // its read timeout.
  for (httplib::Client* http : active_) http->stop();
  cv_.notify_all();
}

void FirmwareDownloader::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++idle_;
      cv_.wait(lock, [&] { return cancelled_ || !queue_.empty(); });
      --idle_;
      if (cancelled_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    DownloadResult result = fetch(job);
    // Under the lock, so nothing is reported once cancel_all() has returned.
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    job.done(std::move(result));
  }
}

DownloadResult FirmwareDownloader::fetch(const Job& job) {
  DownloadResult r;
  const auto scheme_end = job.url.find("://");
  const auto slash =
      scheme_end == std::string::npos ? std::string::npos : job.url.find('/', scheme_end + 3);
  const std::string origin = slash == std::string::npos ? job.url : job.url.substr(0, slash);
  const std::string path = slash == std::string::npos ? "/" : job.url.substr(slash);

  httplib::Client http(origin);
  if (!http.is_valid()) {
    r.error = "invalid URL: " + job.url;
    return r;
  }
  http.set_connection_timeout(10, 0);
  http.set_read_timeout(15, 0);
  http.set_follow_location(true);

  MdCtx md(EVP_MD_CTX_new());
  if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1) {
    r.error = "SHA-256 unavailable";
    return r;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return r;
    active_.insert(&http);
  }
  int status = 0;
  int quarters_reported = 0;
  bool hash_failed = false;
  auto res = http.Get(
      path,
      [&](const httplib::Response& response) {
        status = response.status;
        return response.status == 200;
      },
      [&](const char* data, std::size_t len) {
        if (cancelled_.load()) return false;
        if (r.bytes + static_cast<std::int64_t>(len) > job.max_bytes) {
          r.over_size = true;
          return false;
        }
        if (EVP_DigestUpdate(md.get(), data, len) != 1) {
          hash_failed = true;
          return false;
        }
        r.bytes += static_cast<std::int64_t>(len);
        int quarters = job.max_bytes > 0 ? static_cast<int>(r.bytes * 4 / job.max_bytes) : 4;
        if (quarters > quarters_reported && quarters < 4) {
          quarters_reported = quarters;
          std::lock_guard<std::mutex> lock(mu_);
          if (!cancelled_ && job.progress) job.progress(quarters * 25);
        }
        return true;
      });
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(&http);
  }
  if (r.over_size) return r;  // a size mismatch, which the caller reports
  if (hash_failed) {
    r.error = "SHA-256 failed";
    return r;
  }
  if (status != 0 && status != 200) {
    r.error = "HTTP " + std::to_string(status);
    return r;
  }
  if (!res) {
    r.error = httplib::to_string(res.error());
    return r;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  if (EVP_DigestFinal_ex(md.get(), digest.data(), &digest_len) != 1) {
    r.error = "SHA-256 failed";
    return r;
  }
  r.sha256 = to_hex(digest.data(), digest_len);
  return r;
}

}  // namespace rs1::sim
