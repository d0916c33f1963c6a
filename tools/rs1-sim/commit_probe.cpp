#include "commit_probe.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "store/sqlite.hpp"

namespace rs1::sim {

namespace {

using namespace std::chrono_literals;
using ProbeClock = std::chrono::steady_clock;

// A reading not committed this long after its publish is counted lost to
// the probe (a broker restart's resend takes seconds, not this).
constexpr auto kProbeTimeout = 60s;
// Rows received this long before the publish cannot be the probe: the query
// window starts there (the broker's clock and ours are the same clock).
constexpr std::int64_t kWindowSlackMs = 2000;

double probe_percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

bool holds_seq(const std::string& payload, std::uint64_t seq) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_object()) return false;
  auto it = j.find("seq");
  return it != j.end() && it->is_number_unsigned() && it->get<std::uint64_t>() == seq;
}

}  // namespace

CommitProbe::CommitProbe(std::string db_path, const std::string& samples_path)
    : db_path_(std::move(db_path)) {
  if (!samples_path.empty()) {
    samples_.open(samples_path, std::ios::trunc);
    if (!samples_) throw std::runtime_error("cannot write " + samples_path);
  }
  thread_ = std::thread([this] { run(); });
}

CommitProbe::~CommitProbe() { finish(); }

void CommitProbe::start(const std::string& device_id, std::uint64_t seq, std::int64_t sent_unix_ms,
                        ProbeClock::time_point sent) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (job_ || stop_) return;
    job_ = Job{device_id, seq, sent_unix_ms, sent};
    busy_.store(true, std::memory_order_release);
  }
  cv_.notify_one();
}

ProbeFigures CommitProbe::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  ProbeFigures f;
  f.samples = static_cast<std::int64_t>(latencies_.size());
  f.timeouts = timeouts_;
  f.p50_ms = probe_percentile(latencies_, 0.50);
  f.p99_ms = probe_percentile(latencies_, 0.99);
  f.max_ms = latencies_.empty() ? 0 : *std::max_element(latencies_.begin(), latencies_.end());
  samples_.flush();
  return f;
}

std::string CommitProbe::last_error() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

void CommitProbe::run() {
  std::unique_ptr<Database> store;
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || job_; });
      if (stop_) return;
      job = *job_;
    }
    bool done = false;
    while (!done) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return;  // a probe in flight at the end is neither
      }
      const auto now = ProbeClock::now();
      if (now - job.sent > kProbeTimeout) {
        ++timeouts_;
        if (samples_) samples_ << job.sent_unix_ms << ",timeout\n";
        done = true;
        break;
      }
      try {
        if (!store) store = open_sqlite(db_path_, SqliteTuning::background);
        // The first look after a publish always queries: the row may be
        // committed already.
        if (store->change_feed().may_have_changed() || now - job.sent < 1ms) {
          TelemetryQuery q;
          q.device_id = job.device_id;
          q.metric = "env";
          q.since_ms = job.sent_unix_ms - kWindowSlackMs;
          q.limit = 100;
          for (const auto& r : store->telemetry().query(q)) {
            if (!holds_seq(r.payload, job.seq)) continue;
            const double ms =
                std::chrono::duration<double, std::milli>(ProbeClock::now() - job.sent).count();
            latencies_.push_back(ms);
            if (samples_) samples_ << job.sent_unix_ms << "," << std::round(ms * 100) / 100 << "\n";
            done = true;
            break;
          }
        }
      } catch (const std::exception& e) {
        // The broker restarting, a busy database: try again.
        std::lock_guard<std::mutex> lock(mu_);
        last_error_ = e.what();
        store.reset();
      }
      if (!done) std::this_thread::sleep_for(1ms);
    }
    std::lock_guard<std::mutex> lock(mu_);
    job_.reset();
    busy_.store(false, std::memory_order_release);
  }
}

}  // namespace rs1::sim
