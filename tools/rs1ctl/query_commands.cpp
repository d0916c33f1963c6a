// rs1ctl telemetry query and security log: read-only views of what the
// broker recorded.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "documents/security_log.hpp"
#include "documents/telemetry.hpp"
#include "output.hpp"
#include "store/ops_jobs.hpp"
#include "validators.hpp"

namespace rs1ctl {
namespace {

constexpr std::int64_t kDefaultLimit = 1000;
constexpr std::int64_t kMaxLimit = 1000000;

// Times are unix seconds once parsed (see time_transform).
struct TelemetryArgs {
  std::optional<std::string> device_id;
  std::optional<std::string> metric;
  std::optional<std::int64_t> since;
  std::optional<std::int64_t> until;
  std::int64_t limit = kDefaultLimit;
};

struct SecurityLogArgs {
  std::optional<std::int64_t> since;
  std::optional<std::string> event_type;
};

Outcome query_telemetry(Session& session, const TelemetryArgs& args) {
  rs1::TelemetryQuery query;
  query.device_id = args.device_id;
  query.metric = args.metric;
  // Both ends inclusive, to the second: --until 12:00:00 takes in 12:00:00.999.
  if (args.since) query.since_ms = *args.since * 1000;
  if (args.until) query.until_ms = *args.until * 1000 + 999;
  query.limit = args.limit;

  // Rows older than the hot window are in the archive beside the database
  // (<data_dir>/archive/telemetry, data_dir being the database's directory).
  std::string data_dir = std::filesystem::path(session.db_path()).parent_path().string();
  if (data_dir.empty()) data_dir = ".";
  std::vector<rs1::TelemetryRecord> rows =
      rs1::query_telemetry_with_archive(session.store(), data_dir, query);

  Json document = Json::array();
  Table table({"TIME", "DEVICE", "METRIC", "PAYLOAD"});
  for (const rs1::TelemetryRecord& r : rows) {
    Json row = rs1::doc::telemetry_row_json(r);
    table.add_row(
        {format_time_ms(r.received_at_ms), r.device_id, r.metric, dump_json(row["payload"], -1)});
    document.push_back(std::move(row));
  }
  return Outcome{document, table.str("no telemetry")};
}

Outcome security_log(Session& session, const SecurityLogArgs& args) {
  rs1::SecurityLogQuery query;
  query.since = args.since;
  query.event_type = args.event_type;

  Json document = Json::array();
  Table table({"TIME", "TYPE", "SEVERITY", "IP", "DETAILS"});
  for (const rs1::SecurityEvent& e : session.store().security_log().query(query)) {
    Json event = rs1::doc::security_event_json(e);
    table.add_row({format_time(e.time), e.event_type, e.severity, e.ip.empty() ? "-" : e.ip,
                   dump_json(event["details"], -1)});
    document.push_back(std::move(event));
  }
  return Outcome{document, table.str("no events")};
}

}  // namespace

void add_telemetry_commands(Cli& cli) {
  auto args = std::make_shared<TelemetryArgs>();
  CLI::App* telemetry = cli.add_group("telemetry", "Read stored telemetry");
  CLI::App* query = cli.add_command(*telemetry, "query", "Raw telemetry rows, oldest first",
                                    [args](Session& s) { return query_telemetry(s, *args); });
  add_optional(query, "--device", args->device_id, "Only this device")
      ->type_name("ID")
      ->check(device_id_check());
  add_optional(query, "--metric", args->metric, "Only this metric")
      ->type_name("M")
      ->check(metric_check());
  add_optional(query, "--since", args->since, "From this time on (unix, ISO-8601 or 15m/2h/7d)")
      ->type_name("T")
      ->transform(time_transform(cli.now()));
  add_optional(query, "--until", args->until, "Up to this time, inclusive")
      ->type_name("T")
      ->transform(time_transform(cli.now()));
  query->add_option("--limit", args->limit, "At most this many rows, 1-1000000 (default 1000)")
      ->type_name("N")
      ->check(CLI::Range(std::int64_t{1}, kMaxLimit).description(""));
  add_hourly_command(cli, *telemetry);
}

void add_security_commands(Cli& cli) {
  auto args = std::make_shared<SecurityLogArgs>();
  CLI::App* security = cli.add_group("security", "Read the security log");
  CLI::App* log = cli.add_command(*security, "log", "Security events, newest first",
                                  [args](Session& s) { return security_log(s, *args); });
  add_optional(log, "--since", args->since, "From this time on (unix, ISO-8601 or 15m/2h/7d)")
      ->type_name("T")
      ->transform(time_transform(cli.now()));
  add_optional(log, "--type", args->event_type, "Only events of this type, e.g. acl_violation")
      ->type_name("TYPE");
}

}  // namespace rs1ctl
