// rs1ctl telemetry hourly, backup now|list|restore, health (SPEC §8, §9).
// `backup now` runs the broker's own backup job on rs1ctl's connection; data_dir
// is the database's directory unless --data-dir says otherwise.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "documents/telemetry.hpp"
#include "features/ops/ops.hpp"
#include "output.hpp"
#include "store/ops_jobs.hpp"
#include "validators.hpp"

namespace rs1ctl {
namespace {

struct HourlyArgs {
  std::optional<std::string> device_id;
  std::optional<std::string> metric;
  std::optional<std::int64_t> since;
  std::optional<std::int64_t> until;
};

struct OpsArgs {
  std::string data_dir;  // empty: the database's directory
  std::string file;
  std::string to;
  bool force = false;
  std::string signing_key_file;  // empty: <data_dir>/signing.key
};

std::string data_dir_of(const Session& s, const OpsArgs& a) {
  if (!a.data_dir.empty()) return a.data_dir;
  std::string dir = std::filesystem::path(s.db_path()).parent_path().string();
  return dir.empty() ? "." : dir;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Outcome hourly(Session& session, const HourlyArgs& args) {
  rs1::HourlyQuery q;
  q.device_id = args.device_id;
  q.metric = args.metric;
  q.since_s = args.since ? std::optional<std::int64_t>(rs1::hour_floor(*args.since * 1000) / 1000)
                         : std::nullopt;
  q.until_s = args.until;
  Json document = Json::array();
  Table table({"HOUR", "DEVICE", "METRIC", "COUNT", "FIELDS"});
  for (const auto& h : session.store().ops().hourly(q)) {
    Json row = rs1::doc::hourly_row_json(h);
    table.add_row({format_time(h.hour), h.device_id, h.metric, std::to_string(h.count),
                   dump_json(row["fields"], -1)});
    document.push_back(std::move(row));
  }
  return Outcome{document, table.str("no hourly aggregates")};
}

Json backup_json(const std::string& file, std::int64_t size, std::int64_t created_at) {
  return Json{{"file", file}, {"size", size}, {"created_at", created_at}};
}

Outcome backup_now(Session& session, const OpsArgs& args) {
  rs1::OpsJobContext ctx;
  ctx.data_dir = data_dir_of(session, args);
  rs1::CopyPacing pacing;
  pacing.pages_per_step = 1024;
  pacing.pause_ms = 1;
  rs1::BackupResult r = rs1::run_backup(session.store(), ctx, session.now() * 1000, pacing);
  Table table;
  table.add_row({"file", r.file});
  table.add_row({"size", std::to_string(r.size)});
  table.add_row({"created_at", format_time(r.created_at)});
  return Outcome{backup_json(r.file, r.size, r.created_at), table.str()};
}

Outcome backup_list(Session& session, const OpsArgs& args) {
  const std::string dir = rs1::backup_dir(data_dir_of(session, args));
  Json document = Json::array();
  Table table({"FILE", "SIZE", "CREATED"});
  for (const auto& b : rs1::list_backups(dir)) {
    if (!rs1::backup_day_of(b.name)) continue;  // temporaries and strangers
    const std::string path = dir + "/" + b.name;
    table.add_row({path, std::to_string(b.size), format_time(b.mtime)});
    document.push_back(backup_json(path, b.size, b.mtime));
  }
  return Outcome{document, table.str("no backups")};
}

// Names the same file (both existing), however spelled.
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec);
}

Outcome backup_restore(Session& session, const OpsArgs& args) {
  const std::string& to = args.to;
  // A restore is an admin access. It is recorded in the restored database
  // (below, before that file takes its name) and, by the CLI as for every
  // command, in the database --db names when that is another one that opens:
  // a corrupt one (the reason for many restores) is left alone.
  if (exists(session.db_path()) && !same_file(session.db_path(), to)) {
    try {
      session.store();
    } catch (const std::exception&) {
    }
  }
  if (!exists(args.file)) throw CommandError("no backup at " + args.file);
  std::string check;
  try {
    check = rs1::integrity_check_file(args.file);
  } catch (const std::exception& e) {
    check = e.what();
  }
  if (check != "ok")
    throw CommandError(args.file + " failed integrity_check (" + check + "); not restored");
  // A broker (or any program) with the database open would go on writing
  // into the file it opened: never replace it under one, --force or not.
  if (rs1::database_in_use(to)) {
    throw CommandError(to + " is open in a running broker or another program; stop it first");
  }
  if (exists(to) && !args.force) {
    throw CommandError(to + " exists; add --force to replace it (no broker may be serving it)");
  }
  std::string parent = std::filesystem::path(to).parent_path().string();
  if (parent.empty()) parent = ".";
  rs1::make_directories(parent);
  const std::string tmp = to + ".restore-" + std::to_string(::getpid());
  try {
    rs1::remove_file(tmp);
    rs1::copy_database_file(args.file, tmp);
    Json restore_args = {{"file", args.file}, {"to", to}};
    if (args.force) restore_args["force"] = "true";
    rs1::SecurityEvent event;
    event.event_type = "admin_api_access";
    event.severity = "info";
    event.details = dump_json(
        Json{{"command", "backup restore"}, {"args", restore_args}, {"result", "ok"}}, -1);
    event.time = session.now();
    rs1::append_security_event_to_file(tmp, event);
    std::string again = rs1::integrity_check_file(tmp);
    if (again != "ok")
      throw CommandError("the restored copy failed integrity_check (" + again + ")");
    rs1::fsync_path(tmp);
    // The old database's WAL and index belong to the old file.
    rs1::remove_file(to + "-wal");
    rs1::remove_file(to + "-shm");
    rs1::rename_durably(tmp, to);
  } catch (...) {
    try {
      rs1::remove_file(tmp);
      rs1::remove_file(tmp + "-journal");
    } catch (...) {
    }
    throw;
  }
  Json doc = {{"file", args.file}, {"restored_to", to}};
  return Outcome{doc, "restored " + args.file + " to " + to + "\n"};
}

Outcome health(Session& session, const OpsArgs& args) {
  const std::string data_dir = data_dir_of(session, args);
  rs1::HealthInputs in;
  in.now_ms = session.now() * 1000;
  std::optional<std::string> archive_error;
  try {
    rs1::Database& db = session.store();
    std::string qc = db.ops().quick_check();
    in.database_ok = qc == "ok";
    in.database_detail = "quick_check: " + qc;
    in.heartbeat = db.ops().heartbeat();
    if (auto e = db.ops().job_error("archive"); e && !e->empty()) archive_error = *e;
  } catch (const std::exception& e) {
    in.database_ok = false;
    in.database_detail = e.what();
  }
  in.newest_backup_ms = rs1::newest_backup_ms(data_dir);
  if (auto space = rs1::disk_space(data_dir)) {
    in.free_bytes = space->free_bytes;
    in.total_bytes = space->total_bytes;
  }
  const std::string key =
      args.signing_key_file.empty() ? data_dir + "/signing.key" : args.signing_key_file;
  in.signing_key_readable = rs1::signing_key_readable(key, in.signing_key_detail);
  in.archive_failure = archive_error;

  auto verdicts = rs1::health_verdicts(in);
  const bool healthy = rs1::all_ok(verdicts);
  Json checks = Json::object();
  Table table({"CHECK", "OK", "DETAIL"});
  for (const auto& v : verdicts) {
    checks[v.name] = {{"ok", v.ok}, {"detail", v.detail}};
    table.add_row({v.name, v.ok ? "ok" : "FAIL", v.detail});
  }
  Outcome out{Json{{"healthy", healthy}, {"checks", std::move(checks)}},
              table.str() + (healthy ? "healthy\n" : "NOT healthy\n")};
  out.exit_code = healthy ? 0 : 1;
  return out;
}

}  // namespace

void add_hourly_command(Cli& cli, CLI::App& telemetry) {
  auto args = std::make_shared<HourlyArgs>();
  CLI::App* cmd = cli.add_command(telemetry, "hourly", "Hourly aggregates, oldest hour first",
                                  [args](Session& s) { return hourly(s, *args); });
  add_optional(cmd, "--device", args->device_id, "Only this device")
      ->type_name("ID")
      ->check(device_id_check());
  add_optional(cmd, "--metric", args->metric, "Only this metric")
      ->type_name("M")
      ->check(metric_check());
  add_optional(cmd, "--since", args->since, "Hours from this time on (unix, ISO-8601 or 15m/2h/7d)")
      ->type_name("T")
      ->transform(time_transform(cli.now()));
  add_optional(cmd, "--until", args->until, "Hours starting up to this time")
      ->type_name("T")
      ->transform(time_transform(cli.now()));
}

void add_ops_commands(Cli& cli) {
  auto args = std::make_shared<OpsArgs>();
  auto data_dir_option = [&](CLI::App* c) {
    c->add_option("--data-dir", args->data_dir,
                  "The broker's data_dir (default: the database's directory)")
        ->type_name("DIR");
  };
  CLI::App* backup = cli.add_group("backup", "Online backups of the database");
  data_dir_option(cli.add_command(*backup, "now",
                                  "Take a consistent backup now, while the broker serves",
                                  [args](Session& s) { return backup_now(s, *args); }));
  data_dir_option(cli.add_command(*backup, "list", "Backups in <data_dir>/backups",
                                  [args](Session& s) { return backup_list(s, *args); }));
  CLI::App* restore =
      cli.add_command(*backup, "restore", "Restore a backup into a database file no broker serves",
                      [args](Session& s) { return backup_restore(s, *args); });
  restore->add_option("FILE", args->file, "The backup file")->required();
  restore->add_option("--to", args->to, "The database file to create")
      ->type_name("PATH")
      ->required();
  restore->add_flag("--force", args->force, "Replace an existing database no program holds open");
  cli.writes_database_at(restore, &args->to);

  CLI::App* h =
      cli.add_command(cli.app(), "health", "Database, broker, writer, backups, disk, keys, archive",
                      [args](Session& s) { return health(s, *args); });
  data_dir_option(h);
  h->add_option("--signing-key-file", args->signing_key_file, "default <data_dir>/signing.key")
      ->type_name("PATH");
}

}  // namespace rs1ctl
