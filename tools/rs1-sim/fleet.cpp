#include "fleet.hpp"

#include <mosquitto.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <random>
#include <sstream>
#include <stdexcept>

#include "core/identity.hpp"
#include "rs1-sim/broker_process.hpp"
#include "rs1-sim/client_loop.hpp"
#include "rs1-sim/command.hpp"
#include "rs1-sim/commit_probe.hpp"
#include "rs1-sim/device_messages.hpp"
#include "rs1-sim/firmware_download.hpp"

namespace rs1::sim {

namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

// How often due work (connects, telemetry, OTA steps) is looked at: fine
// enough that 500 connects/s and thousands of devices' telemetry go out
// evenly rather than in bursts.
constexpr auto kTick = 10ms;
// A CONNECT without CONNACK this long is given up: the broker is stuck.
constexpr auto kConnackTimeout = 10s;
// A refused login is retried this rarely: a revoked device must not hammer
// the broker, nor raise auth_failure_repeated for its whole address.
constexpr auto kRefusedRetry = 60s;
// ...except the first refusal of a device that has never logged in: the
// broker learns of a device provisioned a moment ago within 2 s (SPEC §8),
// so that one is tried again soon.
constexpr auto kFirstRefusedRetry = 2s;
// A lost connection is retried after 1 s doubling to 30 s, jittered...
constexpr auto kBackoffFirst = 1s;
constexpr auto kBackoffMax = 30s;
// ...and the backoff starts again at 1 s only after a session this long, so
// a device kicked at once (its client id taken over) does not come back
// every second.
constexpr auto kStableSession = 60s;
// QoS 1 uplinks awaiting PUBACK per device before readings are skipped: a
// device has a small buffer, and libmosquitto's queue has no bound.
constexpr int kMaxUnacked = 50;
// Uplinks (OTA statuses) a device keeps while offline, sent at its next
// connect.
constexpr std::size_t kOutboxMax = 32;
constexpr int kDownloadThreads = 4;
constexpr int kKeepaliveS = 60;

// v5 CONNACK codes that mean "these credentials will not do": retrying soon
// cannot help.
bool is_login_refusal(int rc) {
  switch (rc) {
    case 0x85:  // client identifier not valid
    case 0x86:  // bad user name or password
    case 0x87:  // not authorized
    case 0x8A:  // banned
    case 0x8C:  // bad authentication method
      return true;
    default:
      return false;
  }
}

// The rc of on_disconnect in words: a libmosquitto error, or the reason code
// of the broker's DISCONNECT.
std::string describe_disconnect(int rc, int saved_errno) {
  if (rc >= 0x80) return mosquitto_reason_string(rc);
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(saved_errno);
  return mosquitto_strerror(rc);
}

class Fleet : public ClientHandler {
 public:
  Fleet(const FleetOptions& options, const std::vector<SimDevice>& devices, std::ostream& status,
        FleetProgress* progress)
      : o_(options),
        status_(status),
        progress_(progress),
        rng_(std::random_device{}()),
        downloader_(kDownloadThreads) {
    if (o_.telemetry_per_min > 0) {
      telemetry_period_ = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(60.0 / o_.telemetry_per_min));
    }
    connect_interval_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / std::max(1, o_.connects_per_s)));
    devices_.reserve(devices.size());
    for (std::size_t i = 0; i < devices.size(); ++i) {
      Device d;
      d.id = devices[i].device_id;
      d.secret_hash = sha256_hex(devices[i].secret);
      d.topic_prefix = "opticworks/" + d.id + "/";
      d.firmware_version = o_.firmware_version;
      d.readings = Readings::initial(rng_);
      ClientOptions co;
      co.client_id = d.id;
      co.username = d.id;
      co.keepalive_s = kKeepaliveS;
      d.client = &loop_.add(co, *this);
      d.client->tag = i;
      devices_.push_back(std::move(d));
    }
    report_.devices = static_cast<std::int64_t>(devices_.size());
    if (!o_.acked_out.empty()) {
      acked_out_.open(o_.acked_out, std::ios::trunc);
      if (!acked_out_) throw std::runtime_error("cannot write " + o_.acked_out);
    }
    if (!o_.probe_db.empty()) probe_ = std::make_unique<CommitProbe>(o_.probe_db, o_.probe_out);
  }

  FleetReport run(const std::atomic<bool>& stop) {
    start_ = Clock::now();
    const bool forever = o_.duration_s <= 0;
    const auto end = start_ + std::chrono::seconds(std::max(0, o_.duration_s));
    for (auto& d : devices_) {
      d.booted = start_;
      schedule_connect(d, Clock::duration::zero());
    }
    status_ << "rs1-sim fleet: " << devices_.size() << " devices -> " << o_.host << ":" << o_.port
            << ", " << o_.telemetry_per_min << " telemetry/min each, firmware "
            << o_.firmware_version << ", up to " << o_.connects_per_s << " connects/s" << std::endl;
    loop_.every(kTick, [&] {
      if (stopping_) return;
      auto now = Clock::now();
      if (stop.load() || (!forever && now >= end)) {
        stopping_ = true;
        return;
      }
      run_due(now);
      ramp(now);
    });
    loop_.every(std::chrono::seconds(std::max(1, o_.status_every_s)), [this] { print_status(); });
    if (progress_ != nullptr) loop_.every(100ms, [this] { progress_->update(snapshot()); });

    while (!stopping_) loop_.run_once(100ms);
    shut_down();
    return snapshot();
  }

  // ------------------------------------------------------------ MQTT events

  void on_connect(Client& c, int rc) override {
    Device& d = devices_[c.tag];
    if (d.phase != Phase::connecting) return;
    --connecting_;
    if (rc == 0) {
      d.phase = Phase::online;
      d.online_since = Clock::now();
      ++online_;
      ++report_.logins;
      // The subscriptions and the state go out once libmosquitto is done
      // with this CONNACK: right after this callback it resends what the
      // last session left unacknowledged, and a stale state must not land
      // after the fresh one.
      loop_.post([this, index = c.tag, epoch = d.epoch] { begin_session(index, epoch); });
      return;
    }
    // The broker closes the connection; on_disconnect schedules the retry.
    d.phase = Phase::closing;
    d.retry_slowly = is_login_refusal(rc);
    if (d.retry_slowly) {
      ++report_.logins_refused;
    } else {
      ++report_.connect_failures;
      note_error(d, std::string("CONNACK ") + mosquitto_reason_string(rc));
    }
  }

  void on_disconnect(Client& c, int rc) override {
    const int saved_errno = errno;
    Device& d = devices_[c.tag];
    const Phase was = d.phase;
    if (was != Phase::connecting && was != Phase::online && was != Phase::closing) return;
    ++d.epoch;  // the session's timers are stale now
    const auto now = Clock::now();
    if (was == Phase::connecting) {
      --connecting_;
      ++report_.connect_failures;
      note_error(d, d.abort_reason.empty() ? describe_disconnect(rc, saved_errno) : d.abort_reason);
    }
    d.abort_reason.clear();
    if (was == Phase::online) {
      --online_;
      if (!stopping_) {
        ++report_.connections_lost;
        ++d.reconnects;
      }
    }
    if (stopping_) {
      d.phase = Phase::stopped;
      return;
    }
    if (was == Phase::closing && d.retry_slowly) {
      const bool first = !d.refused_before && d.online_since == Clock::time_point{};
      d.refused_before = true;
      schedule_connect(d, jittered(first ? kFirstRefusedRetry : kRefusedRetry));
      return;
    }
    if (was == Phase::online && now - d.online_since >= kStableSession) d.backoff = kBackoffFirst;
    schedule_connect(d, jittered(d.backoff));
    d.backoff = std::min<Clock::duration>(d.backoff * 2, kBackoffMax);
  }

  void on_publish(Client& c, int mid, int reason) override {
    Device& d = devices_[c.tag];
    d.unacked = std::max(0, d.unacked - 1);
    if (reason >= 0x80) ++report_.messages_refused;
    auto it = std::find_if(d.readings_in_flight.begin(), d.readings_in_flight.end(),
                           [mid](const InFlightReading& r) { return r.mid == mid; });
    if (it == d.readings_in_flight.end()) return;
    if (reason < 0x80) {
      ++report_.telemetry_acked;
      if (acked_out_.is_open()) {
        acked_out_ << d.id << ',' << it->seq << ',' << it->sent_unix_ms << ',' << unix_now_ms()
                   << '\n';
      }
    }
    d.readings_in_flight.erase(it);
  }

  void on_message(Client& c, const mosquitto_message& m) override {
    Device& d = devices_[c.tag];
    ++report_.downlinks_received;
    const std::string topic = m.topic != nullptr ? m.topic : "";
    const std::string_view payload(static_cast<const char*>(m.payload),
                                   m.payloadlen > 0 ? static_cast<std::size_t>(m.payloadlen) : 0);
    if (topic == d.topic_prefix + "config/update") {
      auto reply = config_reply(payload);
      if (!reply) return;  // no version to answer against
      ++(reply->applied ? report_.configs_applied : report_.configs_rejected);
      publish(d, "config/status", reply->payload);
    } else if (topic == d.topic_prefix + "diag/request") {
      DiagFacts facts{d.firmware_version, uptime_s(d), d.readings.rssi_dbm, d.reconnects,
                      d.telemetry_seq};
      publish(d, "telemetry/diag", diag_reply(payload, facts));
      ++report_.diag_answered;
    } else if (topic == d.topic_prefix + "ota/trigger") {
      on_trigger(d, payload);
    }
  }

 private:
  enum class Phase {
    waiting,     // a connect is scheduled
    queued,      // due, waiting for the ramp
    connecting,  // CONNECT sent, no CONNACK yet
    online,      // CONNACK success, until the connection ends
    closing,     // CONNACK refused; the broker closes the connection
    stopped,     // the fleet is shutting down
  };

  // A telemetry reading awaiting its PUBACK (libmosquitto keeps the mid
  // when it resends after a reconnect).
  struct InFlightReading {
    int mid = 0;
    std::uint64_t seq = 0;
    std::int64_t sent_unix_ms = 0;
  };

  struct OtaJob {
    std::uint64_t token = 0;
    OtaTrigger trigger;
    int progress = 0;
  };

  struct Device {
    std::string id;
    std::string secret_hash;
    std::string topic_prefix;  // "opticworks/<id>/"
    Client* client = nullptr;
    Phase phase = Phase::waiting;
    // Changes whenever the connection does: a timer carrying an older epoch
    // belongs to a connection that is gone.
    std::uint64_t epoch = 0;
    bool retry_slowly = false;  // the last CONNACK refused the login
    bool refused_before = false;
    std::string abort_reason;  // why the fleet itself ended the connect
    Clock::time_point online_since{};
    Clock::duration backoff = kBackoffFirst;
    std::int64_t reconnects = 0;
    std::string firmware_version;
    Clock::time_point booted{};  // fleet start, or the last installed update
    Readings readings;
    std::uint64_t telemetry_seq = 0;
    int unacked = 0;  // QoS 1 uplinks awaiting PUBACK
    std::vector<InFlightReading> readings_in_flight;
    std::optional<OtaJob> ota;
    std::uint64_t ota_tokens = 0;
    std::deque<std::pair<std::string, std::string>> outbox;  // (topic suffix, payload)
  };

  enum class Due { connect, connack_timeout, telemetry, install_done };
  struct Timer {
    Clock::time_point at;
    std::size_t device = 0;
    Due what = Due::connect;
    std::uint64_t token = 0;  // the device's epoch, or its OTA job's token
    bool operator>(const Timer& other) const { return at > other.at; }
  };

  double uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng_);
  }
  Clock::duration jittered(Clock::duration d) {
    return std::chrono::duration_cast<Clock::duration>(d * uniform(0.5, 1.5));
  }
  std::int64_t uptime_s(const Device& d) const {
    return std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - d.booted).count();
  }
  void at(Clock::time_point when, Device& d, Due what, std::uint64_t token) {
    timers_.push(Timer{when, d.client->tag, what, token});
  }

  void note_error(const Device& d, const std::string& what) {
    last_error_ = d.id + ": " + what;
    last_error_at_ = Clock::now();
  }

  // ------------------------------------------------------------ connecting

  void schedule_connect(Device& d, Clock::duration delay) {
    d.phase = Phase::waiting;
    ++d.epoch;
    at(Clock::now() + delay, d, Due::connect, d.epoch);
  }

  // New connects at most connects_per_s, and at most kConnectWindow
  // awaiting their CONNACK.
  void ramp(Clock::time_point now) {
    while (!ramp_.empty() && connecting_ < kConnectWindow && next_connect_slot_ <= now) {
      Device& d = devices_[ramp_.front()];
      ramp_.pop_front();
      if (d.phase != Phase::queued) continue;
      // Slots missed while the ramp was idle are not saved up, beyond one
      // tick's worth.
      next_connect_slot_ = std::max(next_connect_slot_, now - kTick) + connect_interval_;
      start_connect(d);
    }
  }

  void start_connect(Device& d) {
    ++d.epoch;
    // The password of the hour the device connects in (SPEC §4).
    d.client->set_password(password_for_hour(d.secret_hash, d.id, hour_of(unix_now())));
    int rc = loop_.connect(*d.client, o_.host, o_.port, ClientLoop::ConnectMode::nonblocking);
    if (rc != MOSQ_ERR_SUCCESS) {
      ++report_.connect_failures;
      note_error(d, rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc));
      schedule_connect(d, jittered(d.backoff));
      d.backoff = std::min<Clock::duration>(d.backoff * 2, kBackoffMax);
      return;
    }
    d.phase = Phase::connecting;
    ++connecting_;
    at(Clock::now() + kConnackTimeout, d, Due::connack_timeout, d.epoch);
  }

  void begin_session(std::size_t index, std::uint64_t epoch) {
    Device& d = devices_[index];
    if (d.epoch != epoch || d.phase != Phase::online) return;
    for (const char* downlink : {"ota/trigger", "config/update", "diag/request"}) {
      d.client->subscribe(d.topic_prefix + downlink, 1);
    }
    send_state(d);
    while (!d.outbox.empty()) {
      publish(d, d.outbox.front().first, d.outbox.front().second);
      d.outbox.pop_front();
    }
    if (telemetry_period_ > Clock::duration::zero()) {
      // A random phase per device, so a fleet that connects at once does not
      // publish at once.
      at(Clock::now() +
             std::chrono::duration_cast<Clock::duration>(telemetry_period_ * uniform(0, 1)),
         d, Due::telemetry, d.epoch);
    }
  }

  // ------------------------------------------------------------ timers

  void run_due(Clock::time_point now) {
    while (!timers_.empty() && timers_.top().at <= now) {
      Timer t = timers_.top();
      timers_.pop();
      Device& d = devices_[t.device];
      switch (t.what) {
        case Due::connect:
          if (d.epoch == t.token && d.phase == Phase::waiting) {
            d.phase = Phase::queued;
            ramp_.push_back(t.device);
          }
          break;
        case Due::connack_timeout:
          if (d.epoch == t.token && d.phase == Phase::connecting) {
            d.abort_reason =
                "no CONNACK within " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::seconds>(kConnackTimeout).count()) +
                " s";
            d.client->abort();  // on_disconnect schedules the retry
          }
          break;
        case Due::telemetry:
          if (d.epoch == t.token && d.phase == Phase::online) send_telemetry(d, t.at, now);
          break;
        case Due::install_done:
          if (d.ota && d.ota->token == t.token) finish_install(d);
          break;
      }
    }
  }

  void send_telemetry(Device& d, Clock::time_point due, Clock::time_point now) {
    d.readings.drift(rng_);
    if (d.unacked >= kMaxUnacked) {
      ++report_.telemetry_skipped;
    } else {
      const std::int64_t sent_ms = unix_now_ms();
      const auto sent = Clock::now();
      int mid = 0;
      if (publish(d, "telemetry/env", telemetry_payload(d.readings, d.telemetry_seq, uptime_s(d)),
                  &mid)) {
        // Readings a connection lost and libmosquitto dropped are never
        // acknowledged: keep the newest only.
        if (d.readings_in_flight.size() >= kMaxUnacked * 2) {
          d.readings_in_flight.erase(d.readings_in_flight.begin());
        }
        d.readings_in_flight.push_back(InFlightReading{mid, d.telemetry_seq, sent_ms});
        if (probe_ && probe_->idle()) probe_->start(d.id, d.telemetry_seq, sent_ms, sent);
        ++d.telemetry_seq;
        ++report_.telemetry_sent;
      }
    }
    // ±10% around the period: the average rate holds, the phases drift.
    auto next =
        due + std::chrono::duration_cast<Clock::duration>(telemetry_period_ * uniform(0.9, 1.1));
    if (next <= now) next = now + kTick;  // fell behind: no burst to catch up
    at(next, d, Due::telemetry, d.epoch);
  }

  // ------------------------------------------------------------ uplinks

  // QoS 1 on the device's own topic; false when libmosquitto refused it
  // (the connection is gone).
  bool publish(Device& d, const std::string& suffix, const std::string& payload,
               int* mid = nullptr) {
    if (d.client->publish(d.topic_prefix + suffix, payload, 1, false, mid) != MOSQ_ERR_SUCCESS) {
      return false;
    }
    ++d.unacked;
    ++report_.messages_sent;
    return true;
  }

  // Sent now when online, else at the next connect.
  void send_or_keep(Device& d, const std::string& suffix, const std::string& payload) {
    if (d.phase == Phase::online && publish(d, suffix, payload)) return;
    if (d.outbox.size() >= kOutboxMax) d.outbox.pop_front();
    d.outbox.emplace_back(suffix, payload);
  }

  void send_state(Device& d) {
    if (publish(d, "state", state_payload(d.firmware_version, uptime_s(d), d.readings.rssi_dbm))) {
      ++report_.states_sent;
    }
  }

  // ------------------------------------------------------------ OTA

  void send_ota(Device& d, const OtaTrigger& t, const std::string& status, int progress,
                const std::string& error = {}) {
    send_or_keep(d, "ota/status",
                 ota_status_payload(t.rollout_id, t.version, status, progress, error));
  }

  void on_trigger(Device& d, std::string_view payload) {
    TriggerParse parsed = parse_ota_trigger(payload, unix_now());
    if (!parsed.trigger) return;  // no rollout and version to report against
    // One update at a time; a QoS 1 redelivery of the running one, or a
    // retry the rollout sent early, waits for its outcome.
    if (d.ota) return;
    const OtaTrigger& t = *parsed.trigger;
    if (!parsed.error.empty()) {
      send_ota(d, t, "failed", 0, parsed.error);
      ++report_.ota_failed;
      return;
    }
    ++report_.ota_started;
    d.ota = OtaJob{++d.ota_tokens, t, 0};
    send_ota(d, t, "downloading", 0);
    // Never on this thread: a download takes seconds, and the loop serves
    // every device. Results come back through post().
    const std::size_t index = d.client->tag;
    const std::uint64_t token = d.ota->token;
    downloader_.start(
        t.url, t.size,
        [this, index, token](int percent) {
          loop_.post(
              [this, index, token, percent] { on_download_progress(index, token, percent); });
        },
        [this, index, token](DownloadResult result) {
          loop_.post([this, index, token, result = std::move(result)] {
            on_downloaded(index, token, result);
          });
        });
  }

  void on_download_progress(std::size_t index, std::uint64_t token, int percent) {
    Device& d = devices_[index];
    if (!d.ota || d.ota->token != token || stopping_) return;
    d.ota->progress = percent;
    send_ota(d, d.ota->trigger, "downloading", percent);
  }

  void on_downloaded(std::size_t index, std::uint64_t token, const DownloadResult& r) {
    Device& d = devices_[index];
    if (!d.ota || d.ota->token != token || stopping_) return;
    const OtaTrigger t = d.ota->trigger;
    if (!r.error.empty()) {
      fail_ota(d, d.ota->progress, "download failed: " + r.error);
      return;
    }
    send_ota(d, t, "verifying", 100);
    if (r.over_size) {
      fail_ota(d, 100,
               "size mismatch: more than the " + std::to_string(t.size) + " bytes expected");
      return;
    }
    if (r.bytes != t.size) {
      fail_ota(d, 100,
               "size mismatch: got " + std::to_string(r.bytes) + " bytes, expected " +
                   std::to_string(t.size));
      return;
    }
    if (r.sha256 != t.sha256) {
      fail_ota(d, 100, "sha256 mismatch: got " + r.sha256);
      return;
    }
    send_ota(d, t, "installing", 100);
    at(Clock::now() + o_.install_time, d, Due::install_done, token);
  }

  void finish_install(Device& d) {
    const OtaTrigger t = d.ota->trigger;
    if (uniform(0, 1) < o_.ota_fail_rate) {
      fail_ota(d, 100, "installation failed (simulated: --ota-fail-rate)");
      return;
    }
    d.ota.reset();
    d.firmware_version = t.version;  // the device now runs it...
    d.booted = Clock::now();         // ...after a reboot
    send_ota(d, t, "success", 100);
    ++report_.ota_succeeded;
    // Offline, the state at the next connect says it.
    if (d.phase == Phase::online) send_state(d);
  }

  void fail_ota(Device& d, int progress, const std::string& error) {
    const OtaTrigger t = d.ota->trigger;
    d.ota.reset();  // still on the old version
    send_ota(d, t, "failed", progress, error);
    ++report_.ota_failed;
  }

  // ------------------------------------------------------------ reporting

  FleetReport snapshot() const {
    FleetReport r = report_;
    if (!stopping_) r.connected = online_;
    r.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
    return r;
  }

  void print_status() {
    std::int64_t ota_running = 0;
    for (const auto& d : devices_) ota_running += d.ota.has_value();
    status_ << "rs1-sim fleet: " << online_ << "/" << devices_.size() << " online, " << connecting_
            << " connecting | logins " << report_.logins << ", refused " << report_.logins_refused
            << ", lost " << report_.connections_lost << " | sent " << report_.messages_sent
            << " (refused " << report_.messages_refused << ") | downlinks "
            << report_.downlinks_received << " | OTA " << ota_running << " running, "
            << report_.ota_succeeded << " ok, " << report_.ota_failed << " failed";
    if (!last_error_.empty() &&
        Clock::now() - last_error_at_ <= std::chrono::seconds(std::max(1, o_.status_every_s))) {
      status_ << " | last error: " << last_error_;
    }
    status_ << std::endl;
  }

  void shut_down() {
    report_.connected = online_;
    downloader_.cancel_all();
    for (auto& d : devices_) {
      if (d.phase == Phase::online) {
        d.client->disconnect();  // clean: the broker marks it offline at once
      } else if (d.client->open()) {
        d.client->abort();
      }
    }
    auto all_closed = [&] {
      return std::none_of(devices_.begin(), devices_.end(),
                          [](const Device& d) { return d.client->open(); });
    };
    if (!loop_.run_until(all_closed, 5s)) {
      // A DISCONNECT the socket would not take: close what is left.
      for (auto& d : devices_) {
        if (d.client->open()) d.client->abort();
      }
      loop_.run_until(all_closed, 1s);
    }
    acked_out_.flush();
    if (probe_) {
      ProbeFigures f = probe_->finish();
      report_.probe_samples = f.samples;
      report_.probe_timeouts = f.timeouts;
      report_.commit_p50_ms = f.p50_ms;
      report_.commit_p99_ms = f.p99_ms;
      report_.commit_max_ms = f.max_ms;
    }
    if (progress_ != nullptr) progress_->update(snapshot());
  }

  static std::int64_t unix_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  const FleetOptions& o_;
  std::ostream& status_;
  FleetProgress* progress_;
  std::mt19937_64 rng_;
  ClientLoop loop_;  // before downloader_: the downloads post to it until joined
  std::vector<Device> devices_;
  FirmwareDownloader downloader_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  std::deque<std::size_t> ramp_;  // devices due to connect, in order
  Clock::time_point next_connect_slot_{};
  Clock::duration connect_interval_{};
  Clock::duration telemetry_period_{};
  Clock::time_point start_{};
  int connecting_ = 0;
  std::int64_t online_ = 0;
  bool stopping_ = false;
  std::string last_error_;
  Clock::time_point last_error_at_{};
  FleetReport report_;
  std::ofstream acked_out_;
  std::unique_ptr<CommitProbe> probe_;
};

// The summary's fields, in the order both forms print them.
std::vector<std::pair<const char*, std::int64_t>> counters(const FleetReport& r) {
  return {{"devices", r.devices},
          {"connected", r.connected},
          {"logins", r.logins},
          {"logins_refused", r.logins_refused},
          {"connect_failures", r.connect_failures},
          {"connections_lost", r.connections_lost},
          {"messages_sent", r.messages_sent},
          {"messages_refused", r.messages_refused},
          {"telemetry_sent", r.telemetry_sent},
          {"telemetry_skipped", r.telemetry_skipped},
          {"telemetry_acked", r.telemetry_acked},
          {"states_sent", r.states_sent},
          {"downlinks_received", r.downlinks_received},
          {"configs_applied", r.configs_applied},
          {"configs_rejected", r.configs_rejected},
          {"diag_answered", r.diag_answered},
          {"ota_started", r.ota_started},
          {"ota_succeeded", r.ota_succeeded},
          {"ota_failed", r.ota_failed},
          {"probe_samples", r.probe_samples},
          {"probe_timeouts", r.probe_timeouts}};
}

}  // namespace

std::string FleetReport::json() const {
  // In the order of the text form, which reads as a story: not sorted.
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [name, value] : counters(*this)) j[name] = value;
  j["commit_p50_ms"] = std::round(commit_p50_ms * 10) / 10;
  j["commit_p99_ms"] = std::round(commit_p99_ms * 10) / 10;
  j["commit_max_ms"] = std::round(commit_max_ms * 10) / 10;
  j["elapsed_s"] = std::round(elapsed_s * 10) / 10;
  return j.dump();
}

std::string FleetReport::text() const {
  std::ostringstream out;
  for (const auto& [name, value] : counters(*this)) {
    std::string label = name;
    std::replace(label.begin(), label.end(), '_', ' ');
    out << std::left << std::setw(20) << label << value << "\n";
  }
  out << std::fixed << std::setprecision(1);
  out << std::left << std::setw(20) << "commit p50 ms" << commit_p50_ms << "\n";
  out << std::left << std::setw(20) << "commit p99 ms" << commit_p99_ms << "\n";
  out << std::left << std::setw(20) << "commit max ms" << commit_max_ms << "\n";
  out << std::left << std::setw(20) << "elapsed s" << elapsed_s << "\n";
  return out.str();
}

FleetReport run_fleet(const FleetOptions& options, const std::vector<SimDevice>& devices,
                      const std::atomic<bool>& stop, std::ostream& status,
                      FleetProgress* progress) {
  // A device holds one descriptor (its socket: ClientLoop keeps
  // libmosquitto from opening its wake-up pair); the downloads, the commit
  // probe and the process need a few more.
  const std::uint64_t wanted = static_cast<std::uint64_t>(devices.size()) + 256;
  const std::uint64_t limit = raise_file_limit(wanted);
  if (limit < wanted) {
    throw std::runtime_error(std::to_string(devices.size()) + " devices need " +
                             std::to_string(wanted) + " descriptors, and the limit is " +
                             std::to_string(limit) +
                             ": raise it (ulimit -n) or split the devices file over several "
                             "fleets");
  }
  Fleet fleet(options, devices, status, progress);
  return fleet.run(stop);
}

void add_fleet_command(CLI::App& app) {
  auto options = std::make_shared<FleetOptions>();
  auto devices_file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "fleet",
      "Play RS-1 devices against a broker: HMAC logins, state, telemetry, answers to zone "
      "configs and diagnostic requests, OTA updates. Runs until SIGINT/SIGTERM or --duration, "
      "disconnects every device cleanly and prints a summary on stdout; a status line goes to "
      "stderr every --status-every seconds");
  cmd->add_option("--devices", *devices_file,
                  "devices file: what `rs1ctl device add ID --json` prints, one document after "
                  "another, or a JSON array of {\"device_id\",\"secret\"} objects")
      ->required()
      ->type_name("FILE");
  cmd->add_option("--host", options->host, "broker address")->capture_default_str();
  cmd->add_option("--port", options->port, "broker MQTT port")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--telemetry-per-min", options->telemetry_per_min,
                  "telemetry messages per device per minute, jittered (0: none; the broker's "
                  "rate_limit_per_min drops what exceeds it)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60000.0));
  cmd->add_option("--duration", options->duration_s,
                  "seconds to run, then stop as on SIGTERM (0: until SIGINT/SIGTERM)")
      ->capture_default_str()
      ->check(CLI::Range(0, 365 * 86400));
  cmd->add_option("--firmware-version", options->firmware_version,
                  "the version every device runs at start (reported in its state)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        return v.empty() || v.size() > 64 ? std::string("1 to 64 characters") : std::string();
      });
  cmd->add_option("--connects-per-s", options->connects_per_s,
                  "new connections per second at most (at most 64 await their CONNACK at once)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--ota-fail-rate", options->ota_fail_rate,
                  "share of OTA installs (0 to 1) that report failed after a good download, to "
                  "watch a rollout pause")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--status-every", options->status_every_s,
                  "seconds between status lines on stderr")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--acked-out", options->acked_out,
                  "write one device_id,seq,sent_unix_ms,acked_unix_ms line per telemetry reading "
                  "the broker acknowledged (to check against the database)")
      ->type_name("FILE");
  cmd->add_option("--probe-db", options->probe_db,
                  "the broker's database: time readings from publish to commit, one at a time, "
                  "by polling it (commit p50/p99/max in the summary)")
      ->type_name("FILE");
  cmd->add_option("--probe-out", options->probe_out,
                  "with --probe-db: one sent_unix_ms,latency_ms line per probed reading")
      ->type_name("FILE");
  cmd->add_flag("--json", *json, "print the summary as one JSON document");
  cmd->callback([options, devices_file, json] {
    try {
      auto devices = read_devices_file(*devices_file);
      install_stop_signals();
      FleetReport report = run_fleet(*options, devices, stop_requested(), std::cerr);
      std::cout << (*json ? report.json() + "\n" : report.text()) << std::flush;
      exit_status() = 0;
    } catch (const std::exception& e) {
      std::cerr << "rs1-sim fleet: " << e.what() << "\n";
      exit_status() = 1;
    }
  });
}

}  // namespace rs1::sim
