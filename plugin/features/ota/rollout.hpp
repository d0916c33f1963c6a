// Rollouts (SPEC §7, §8 `rollout`): the model, the narrow store interface
// and the engine, a pure state machine. Its inputs are device events
// (subscribed to ota/trigger, `state`, `ota/status`, provisioned) and the
// time; its outputs are triggers to send and the rows to persist. The glue
// (broker/ota.cpp) runs it on the broker thread, sends the triggers through
// the downlink gate and hands the rows to the ingest writer.
//
// The rules, each in one place here:
// - stages are cumulative shares of the device set, in its order;
// - at most max_per_minute triggers a minute, as a token bucket holding one
//   second's worth, so the rate is smooth rather than a burst each minute;
// - a device of the current stage is triggered once it is ready (its
//   session subscribed to ota/trigger), however late it comes online;
// - a device already on the target version is skipped;
// - triggered until its first report, in_progress while it downloads,
//   verifies, installs; success only when it runs the target version
//   (`version` of its success report, or its next `state`); back on another
//   version after success: failed (rolled back);
// - no success within timeout_min: timed_out; failed and timed_out devices
//   are triggered again, up to `retries` more times;
// - the next stage starts when every device of the current one finished
//   (success, skipped, or failed / timed_out with no retry left);
// - once min(min_finished, set size) devices finished, a failure that lifts
//   the share of failed and timed_out among them above max_failure_rate
//   pauses the rollout, with the reason;
// - `all` rollouts take in devices provisioned while they run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/payload.hpp"

namespace rs1 {

enum class DeviceOtaStatus : std::uint8_t {
  pending,
  triggered,
  in_progress,
  success,
  failed,
  timed_out,
  skipped
};
constexpr std::size_t kDeviceOtaStatusCount = 7;
const char* status_name(DeviceOtaStatus status);
std::optional<DeviceOtaStatus> device_ota_status_from_name(const std::string& name);

enum class RolloutState : std::uint8_t { running, paused, completed, cancelled };
const char* state_name(RolloutState state);
std::optional<RolloutState> rollout_state_from_name(const std::string& name);

struct RolloutPolicy {
  std::vector<int> stages{10, 50, 100};  // cumulative percentages, rising, ending at 100
  double max_failure_rate = 0.2;
  int min_finished = 5;
  int max_per_minute = 600;
  int timeout_min = 60;
  int retries = 1;
};
// Why the policy cannot run, or nothing.
std::optional<std::string> check_policy(const RolloutPolicy& policy);
// "10,50,100" -> stages; nothing when malformed.
std::optional<std::vector<int>> parse_stages(const std::string& text);

struct RolloutDevice {
  std::string device_id;
  DeviceOtaStatus status = DeviceOtaStatus::pending;
  int attempts = 0;  // triggers sent
  std::optional<std::string> error;
  std::int64_t updated_at = 0;
  std::int64_t triggered_at = 0;                // of the latest attempt
  bool reported_success = false;                // said success, not yet seen running the target
  std::optional<std::string> firmware_version;  // what it runs, as last known (not persisted here)
};

struct Rollout {
  std::int64_t id = 0;
  std::string version;
  std::string sha256;
  std::int64_t size = 0;
  bool all = false;
  RolloutPolicy policy;
  RolloutState state = RolloutState::running;
  std::optional<std::string> reason;
  int stage = 0;              // index into policy.stages
  std::int64_t revision = 1;  // bumped by every operator change
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::vector<RolloutDevice> devices;  // the set, in stage order
};

using RolloutCounts = std::array<std::int64_t, kDeviceOtaStatusCount>;
RolloutCounts count_statuses(const Rollout& rollout);

// What the engine persists: the rollout's own progress…
struct RolloutProgress {
  std::int64_t rollout_id = 0;
  RolloutState state = RolloutState::running;
  std::optional<std::string> reason;
  int stage = 0;
  std::int64_t revision = 0;  // written only while the row still has it
  std::int64_t updated_at = 0;
};
// …and each device's (inserted when new).
struct RolloutDeviceRow {
  std::int64_t rollout_id = 0;
  RolloutDevice device;
};

// A trigger to send: the glue signs the URL and queues the downlink.
struct TriggerOrder {
  std::int64_t rollout_id = 0;
  std::string device_id;
  std::string version;
  std::string sha256;
  std::int64_t size = 0;
};

// The ota/trigger message (SPEC §5) for `t`, its URL signed until
// `expires_at`: {"rollout_id","version","url","sha256","size","expires_at"}.
// Written directly, not through a JSON tree: a stage of 10,000 devices
// builds 10,000 of them on the broker thread.
std::string trigger_payload(const TriggerOrder& t, std::string_view url, std::int64_t expires_at);

struct EngineOutput {
  std::vector<TriggerOrder> triggers;
  std::vector<RolloutProgress> rollouts;
  std::vector<RolloutDeviceRow> devices;
  std::vector<std::string> log;  // state changes worth a log line
  bool empty() const {
    return triggers.empty() && rollouts.empty() && devices.empty() && log.empty();
  }
};

class RolloutStore {
 public:
  virtual ~RolloutStore() = default;
  // Creates a running rollout with its devices (pending), all or nothing.
  // Throws StoreError(conflict) naming a device already in a running or
  // paused rollout, an unknown device or version. Returns the id.
  virtual std::int64_t create(const Rollout& rollout) = 0;
  // With its devices, each with the firmware version the device last
  // reported; nothing when there is no such rollout.
  virtual std::optional<Rollout> get(std::int64_t id) = 0;
  // Without devices (counts come from count()), newest first.
  virtual std::vector<Rollout> list() = 0;
  virtual RolloutCounts counts(std::int64_t id) = 0;
  // Running and paused ones, with devices.
  virtual std::vector<Rollout> active() = 0;
  // An operator's change (pause, resume, cancel): sets state and reason and
  // bumps the revision. False when the rollout is not in `from`.
  virtual bool command(std::int64_t id, const std::vector<RolloutState>& from, RolloutState to,
                       const std::optional<std::string>& reason, std::int64_t now_s) = 0;
};

class RolloutEngine {
 public:
  // Is the device's current session subscribed to its ota/trigger?
  using Ready = std::function<bool(const std::string& device_id)>;

  // A rollout read from the store: at start, when rs1ctl created it, or
  // when an operator changed it (a newer revision: its state wins).
  void load(Rollout rollout, std::int64_t now_ms, EngineOutput& out);
  // The device's session subscribed to ota/trigger.
  void device_ready(const std::string& device_id);
  void on_state(const std::string& device_id, const std::optional<std::string>& version,
                std::int64_t now_s, EngineOutput& out);
  void on_status(const std::string& device_id, const OtaStatusReport& report, std::int64_t now_s,
                 EngineOutput& out);
  void on_provisioned(const std::string& device_id, std::int64_t now_s, EngineOutput& out);
  void on_removed(const std::string& device_id, std::int64_t now_s, EngineOutput& out);
  // Every provisioned device, after a load: an `all` rollout takes in the
  // ones it does not hold yet (provisioned while the broker was down, or
  // after rs1ctl read the device list), as if they were provisioned now.
  void take_in(const std::vector<std::string>& device_ids, std::int64_t now_s, EngineOutput& out);
  // Is an `all` rollout running or paused?
  bool holds_all() const;
  // The devices the running and paused rollouts hold, in rollout then set
  // order. After a load, the ones no longer provisioned (deleted while the
  // broker was down) go to on_removed, as a deletion does while it runs.
  std::vector<std::string> device_ids() const;
  // Timeouts, the rate, triggers. Cheap when nothing is due. At most
  // `max_triggers` triggers (over all rollouts); the rest wait for the next
  // call, so one call's work stays small however large the stage.
  void tick(std::int64_t now_ms, const Ready& ready, EngineOutput& out,
            std::size_t max_triggers = SIZE_MAX);

  // Running or paused rollouts held (completed and cancelled ones are let go).
  const Rollout* find(std::int64_t id) const;
  std::size_t active_count() const { return active_.size(); }
  // Per status, over the running rollouts (for the gauges).
  RolloutCounts running_counts() const;

 private:
  struct Active {
    Rollout r;
    std::deque<std::size_t> ready;                               // due a trigger
    std::vector<bool> queued;                                    // in `ready`
    std::unordered_set<std::size_t> parked;                      // due, but not subscribed yet
    std::deque<std::pair<std::int64_t, std::size_t>> deadlines;  // (deadline_s, index)
    std::size_t stage_end = 0;  // devices [0, stage_end) are in the stage
    std::size_t unfinished_in_stage = 0;
    RolloutCounts counts{};
    std::int64_t finished = 0, failed_finished = 0;
    double tokens = 0;
    std::int64_t refilled_ms = 0;
    std::int64_t next_sweep_ms = 0;
  };

  bool finished(const Active& a, const RolloutDevice& d) const;
  bool due(const Active& a, const RolloutDevice& d) const;
  // `trigger`: this change is a new attempt (counted after the old status
  // is taken off the books).
  void set_status(Active& a, std::size_t i, DeviceOtaStatus status, std::int64_t now_s,
                  EngineOutput& out, bool trigger = false);
  void enqueue(Active& a, std::size_t i);
  void extend_stage(Active& a, std::int64_t now_s, EngineOutput& out);
  void advance(Active& a, std::int64_t now_s, EngineOutput& out);
  void check_failure_rate(Active& a, std::int64_t now_s, EngineOutput& out);
  void persist(const Active& a, std::int64_t now_s, EngineOutput& out);
  void release(Active& a);
  void drop_if_ended(std::int64_t id);
  Active* owner_of(const std::string& device_id, std::size_t& index);
  void add_device(Active& a, RolloutDevice d);

  std::map<std::int64_t, Active> active_;
  // device id -> (rollout id, index): a device is in one running rollout at most.
  std::unordered_map<std::string, std::pair<std::int64_t, std::size_t>> owners_;
};

// Stage k's share of n devices: ceil(stages[k] * n / 100).
std::size_t stage_size(int percent, std::size_t n);

}  // namespace rs1
