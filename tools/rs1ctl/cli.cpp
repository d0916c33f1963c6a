#include "cli.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <system_error>
#include <vector>

#include "output.hpp"
#include "run_as_owner.hpp"

namespace rs1ctl {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// "device add", from the parsed chain of subcommands.
std::string command_name(const CLI::App& command) {
  std::vector<std::string> words;
  for (const CLI::App* app = &command; app->get_parent() != nullptr; app = app->get_parent()) {
    words.push_back(app->get_name());
  }
  std::string name;
  for (auto it = words.rbegin(); it != words.rend(); ++it) {
    if (!name.empty()) name += ' ';
    name += *it;
  }
  return name;
}

// The innermost command given: every group requires one, so it is a leaf.
const CLI::App& chosen_command(const CLI::App& app) {
  const CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  return *command;
}

// "--model" and "ID" become "model" and "id".
std::string audit_key(const CLI::Option& option) {
  std::string key = option.get_single_name();
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return key;
}

}  // namespace

Input read_input(const std::string& path, const std::string& what, std::size_t max_bytes,
                 const std::string& too_large) {
  const bool from_stdin = path == "-";
  Input input;
  input.name = from_stdin ? "standard input" : what + " " + path;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> owned(nullptr, &std::fclose);
  std::FILE* in = stdin;
  if (!from_stdin) {
    owned.reset(std::fopen(path.c_str(), "rb"));
    if (!owned) throw CommandError("cannot read " + input.name + ": " + std::strerror(errno));
    in = owned.get();
  }
  char buffer[16384];
  for (;;) {
    std::size_t n = std::fread(buffer, 1, sizeof buffer, in);
    input.text.append(buffer, n);
    if (input.text.size() > max_bytes) throw CommandError(input.name + " " + too_large);
    if (n < sizeof buffer) break;
  }
  if (std::ferror(in) != 0) {
    throw CommandError("cannot read " + input.name + ": " + std::strerror(errno));
  }
  return input;
}

rs1::Database& Session::store() {
  if (store_) return *store_;
  std::error_code ec;
  if (std::filesystem::status(db_path_, ec).type() == std::filesystem::file_type::not_found) {
    throw CommandError("no database at " + db_path_ + " (run rs1ctl init)");
  }
  return open();
}

rs1::Database& Session::create_store() {
  if (store_) return *store_;
  std::filesystem::path parent = std::filesystem::path(db_path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  return open();
}

rs1::Database& Session::open() {
  std::unique_ptr<rs1::Database> store = rs1::open_sqlite(db_path_, rs1::SqliteTuning::interactive);
  store->migrate();
  store_ = std::move(store);
  return *store_;
}

Cli::Cli(std::int64_t now_s)
    : now_s_(now_s),
      app_("RS-1 Broker operator CLI: devices, accounts, telemetry, security log", "rs1ctl") {
  // Set before any subcommand exists so all of them inherit it: an option a
  // command does not know (--db, --json) is handed up to the app, which is
  // what lets the global options come before or after the command words.
  app_.fallthrough();
  app_.footer("--db PATH and --json may also follow the command words.");
  app_.require_subcommand(1);
  app_.add_option("--db", db_path_, "SQLite database (default: $RS1_DB, else ./var/rs1.db)")
      ->type_name("PATH")
      ->envname("RS1_DB")
      // SQLite would take "" as a throw-away temporary database.
      ->check(CLI::Validator(
          [](std::string& path) { return path.empty() ? std::string("must not be empty") : ""; },
          ""));
  app_.add_flag("--json", json_, "Print one JSON document on stdout")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

CLI::App* Cli::add_group(const std::string& name, const std::string& description) {
  CLI::App* group = app_.add_subcommand(name, description);
  // Exactly one: once it is given, CLI11 no longer takes a later word for a
  // command, so `device show list` shows the device named "list".
  group->require_subcommand(1);
  return group;
}

CLI::App* Cli::add_command(CLI::App& parent, const std::string& name,
                           const std::string& description, Handler handler) {
  CLI::App* command = parent.add_subcommand(name, description);
  handlers_.emplace(command, std::move(handler));
  return command;
}

int Cli::run(int argc, const char* const* argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app_.exit(e);  // --help
    // CLI11 checks for a missing command before it looks at what it could not
    // place, so `rs1ctl frobnicate` would only say "A subcommand is required".
    std::vector<std::string> unplaced = app_.remaining();
    std::string message =
        dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && !unplaced.empty()
            ? "unknown command or argument: " + unplaced.front()
            : e.what();
    std::cerr << "rs1ctl: " << message << " (see rs1ctl --help)\n";
    return kExitUsage;
  }

  const CLI::App& command = chosen_command(app_);
  // Before anything is opened or created, so that root never leaves a file
  // the broker's user cannot write.
  try {
    auto target = database_paths_.find(&command);
    run_as_owner_of(target != database_paths_.end() ? *target->second : db_path_);
  } catch (const std::exception& e) {
    std::cerr << "rs1ctl: " << e.what() << '\n';
    return kExitFailure;
  }
  Session session(db_path_, now_s_);
  Outcome outcome;
  try {
    outcome = handlers_.at(&command)(session);
  } catch (const std::exception& e) {
    std::string line = e.what();
    // A command that reached the database and failed there (a device not
    // found, a name taken) is an admin access too. Still one line.
    if (session.opened()) {
      if (std::optional<std::string> problem = record_admin_access(session, command, line)) {
        line += " (and not recorded in the security log: " + *problem + ")";
      }
    }
    std::cerr << "rs1ctl: " << line << '\n';
    return kExitFailure;
  }
  if (session.opened()) {
    if (std::optional<std::string> problem = record_admin_access(session, command, std::nullopt)) {
      std::cerr << "rs1ctl: warning: done, but not recorded in the security log: " << *problem
                << '\n';
    }
  }
  return print(outcome) ? outcome.exit_code : kExitFailure;
}

// Every option given to the command, as given after validation (times as
// unix seconds), minus those marked secret.
Json Cli::audit_args(const CLI::App& command) const {
  Json args = Json::object();
  for (const CLI::Option* option : command.get_options()) {
    if (option->count() == 0 || secret_options_.count(option) != 0) continue;
    const std::vector<std::string>& values = option->results();
    args[audit_key(*option)] = values.size() == 1 ? Json(values.front()) : Json(values);
  }
  return args;
}

// After the command's own change has committed: the store has no way to put
// both in one transaction, and a change that happened must not be reported
// as failed. A log entry that cannot be written is a warning, not a failure;
// the reason is returned for the caller to say so. `error` is the failure of
// a command that did not succeed: our own messages, which never hold a secret.
std::optional<std::string> Cli::record_admin_access(Session& session, const CLI::App& command,
                                                    const std::optional<std::string>& error) const {
  Json details = {{"command", command_name(command)}, {"args", audit_args(command)}};
  details["result"] = error ? "failed" : "ok";
  if (error) details["error"] = *error;
  rs1::SecurityEvent event;
  event.event_type = "admin_api_access";
  event.severity = "info";
  event.ip = "";  // the local CLI, not a network client
  event.details = dump_json(details, -1);
  event.time = now_s_;
  try {
    session.store().security_log().append(event);
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

bool Cli::print(const Outcome& outcome) const {
  if (json_) {
    std::cout << dump_json(outcome.document, 2) << '\n';
  } else {
    std::cout << outcome.text;
  }
  std::cout.flush();
  if (!std::cout) {
    std::cerr << "rs1ctl: cannot write to standard output\n";
    return false;
  }
  return true;
}

}  // namespace rs1ctl
