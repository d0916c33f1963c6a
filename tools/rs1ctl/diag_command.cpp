// rs1ctl diag ID: asks a device for diagnostics (SPEC §5 `diag/request`,
// §8 `diag`). The request is stored; the broker delivers it once the device
// is online and subscribed, and the device answers as ordinary telemetry on
// `telemetry/diag`, which --wait watches for.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "core/identity.hpp"
#include "documents/diag.hpp"
#include "features/diag/diag.hpp"
#include "output.hpp"
#include "validators.hpp"

namespace rs1ctl {
namespace {

constexpr auto kAnswerPoll = std::chrono::milliseconds(200);
// An answer comes as telemetry on this metric.
constexpr const char* kDiagMetric = "diag";

struct DiagArgs {
  std::string device_id;
  std::string what;  // a,b,c as given
  std::optional<std::int64_t> wait_s;
};

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  if (list.empty()) return items;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = list.find(',', start);
    items.push_back(list.substr(start, comma - start));
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

// Polls the device's `telemetry/diag` rows since the request was made for
// one naming it; nothing once `wait_s` has passed.
std::optional<std::string> wait_for_answer(rs1::Database& store, const rs1::DiagRequest& request,
                                           std::int64_t wait_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  rs1::TelemetryQuery query;
  query.device_id = request.device_id;
  query.metric = kDiagMetric;
  // From the start of the second the request was made in (created_at is
  // whole seconds), so no answer can slip in before the first look.
  query.since_ms = request.created_at * 1000;
  for (;;) {
    std::vector<rs1::TelemetryRecord> rows = store.telemetry().query(query);
    for (const rs1::TelemetryRecord& row : rows) {
      if (string_member(row.payload, "request_id") == request.request_id) return row.payload;
    }
    // Oldest first: go on from the newest row seen (inclusive, since more
    // rows may follow within its millisecond), or past it when a whole page
    // shares one millisecond.
    if (!rows.empty()) {
      std::int64_t newest = rows.back().received_at_ms;
      bool full_page = static_cast<std::int64_t>(rows.size()) >= query.limit;
      query.since_ms = full_page && newest == *query.since_ms ? newest + 1 : newest;
      if (full_page) continue;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kAnswerPoll);
  }
}

Outcome request_diag(Session& session, const DiagArgs& args) {
  rs1::Database& store = session.store();
  rs1::DiagRequest request =
      rs1::new_diag_request(args.device_id, split_commas(args.what), session.now());
  try {
    store.diag().add(request);
  } catch (const rs1::StoreError& e) {
    // Unknown device, or too many requests already waiting: the reason.
    if (e.kind() != rs1::StoreError::Kind::conflict) throw;
    throw CommandError(e.what());
  }
  if (!args.wait_s) {
    return Outcome{rs1::doc::diag_request_json(request), request.request_id + "\n"};
  }
  std::optional<std::string> answer = wait_for_answer(store, request, *args.wait_s);
  if (!answer) {
    throw CommandError("no answer from " + args.device_id + " within " +
                       std::to_string(*args.wait_s) + " s");
  }
  Json document = rs1::doc::diag_answer_json(request, *answer);
  std::string text = request.request_id + "\n" + dump_json(document["answer"], -1) + "\n";
  return Outcome{std::move(document), std::move(text)};
}

}  // namespace

void add_diag_command(Cli& cli) {
  auto args = std::make_shared<DiagArgs>();
  CLI::App* diag =
      cli.add_command(cli.app(), "diag", "Ask a device for diagnostics; prints the request id",
                      [args](Session& s) { return request_diag(s, *args); });
  diag->add_option("ID", args->device_id, "Device id")->required()->check(device_id_check());
  diag->add_option("--what", args->what, "What to report, comma-separated (default: nothing named)")
      ->type_name("a,b")
      ->check(comma_list_check());
  diag->add_option_function<std::int64_t>(
          "--wait", [args](const std::int64_t& s) { args->wait_s = s; },
          "Wait up to S seconds for the device's answer and print it (exit 1 without one)")
      ->type_name("S")
      ->check(CLI::Range(std::int64_t{1}, rs1::kDiagTtlS).description(""));
}

}  // namespace rs1ctl
