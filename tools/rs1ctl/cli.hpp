// The frame every rs1ctl command runs in (SPEC §8): the global --db and
// --json options, opening the database, the admin_api_access record, output
// and exit codes. A command only turns its arguments into an Outcome.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "output.hpp"
#include "store/sqlite.hpp"

namespace rs1ctl {

// What a command shows: `document` with --json, `text` (whole lines) without.
struct Outcome {
  Json document;
  std::string text;
  int exit_code = 0;  // 1: shown, and still a failure (rs1ctl health when unhealthy)
};

// A failure reported as one line with exit status 1: a device that does not
// exist, a name that is taken.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A small input read whole: FILE, or standard input for "-". `name` is how
// errors call it ("zone file F", "standard input"); more than `max_bytes` is
// refused with "<name> <too_large>" before it fills the memory. Errors name
// the file, never what it holds.
struct Input {
  std::string name;
  std::string text;
};
Input read_input(const std::string& path, const std::string& what, std::size_t max_bytes,
                 const std::string& too_large);

// The database of one run, opened on first use: a command that never asks for
// it (device password) neither needs a database nor writes to the log.
class Session {
 public:
  Session(std::string db_path, std::int64_t now_s) : db_path_(std::move(db_path)), now_s_(now_s) {}

  std::int64_t now() const { return now_s_; }
  const std::string& db_path() const { return db_path_; }

  // An existing database, migrated. Throws CommandError when there is none,
  // so a mistyped --db never leaves an empty database behind.
  rs1::Database& store();
  // For `init`: creates the directory and the database when missing.
  rs1::Database& create_store();
  bool opened() const { return store_ != nullptr; }

 private:
  rs1::Database& open();

  std::string db_path_;
  std::int64_t now_s_;
  std::unique_ptr<rs1::Database> store_;
};

using Handler = std::function<Outcome(Session&)>;

// Binds an optional value: CLI11 2.1 has no std::optional support of its own.
template <typename T>
CLI::Option* add_optional(CLI::App* command, const std::string& name, std::optional<T>& target,
                          const std::string& description) {
  return command->add_option_function<T>(
      name, [&target](const T& value) { target = value; }, description);
}

class Cli {
 public:
  // `now_s` is the one "now" of the run: relative times, created_at, the log.
  explicit Cli(std::int64_t now_s);

  std::int64_t now() const { return now_s_; }
  CLI::App& app() { return app_; }

  // A group of commands such as `device`; one of them must follow.
  CLI::App* add_group(const std::string& name, const std::string& description);
  // A command that runs `handler` when it is the one given.
  CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& description,
                        Handler handler);
  // Keeps the option's value out of the security log.
  void mark_secret(const CLI::Option* option) { secret_options_.insert(option); }
  // The command writes the database `*path` names rather than --db's: run as
  // root, it becomes the owner of that file's directory (run_as_owner.hpp).
  void writes_database_at(const CLI::App* command, const std::string* path) {
    database_paths_[command] = path;
  }

  // Parses, runs, prints; returns the exit status.
  int run(int argc, const char* const* argv);

 private:
  Json audit_args(const CLI::App& command) const;
  std::optional<std::string> record_admin_access(Session& session, const CLI::App& command,
                                                 const std::optional<std::string>& error) const;
  bool print(const Outcome& outcome) const;

  std::int64_t now_s_;
  CLI::App app_;
  std::string db_path_ = "./var/rs1.db";
  bool json_ = false;
  std::map<const CLI::App*, Handler> handlers_;
  std::set<const CLI::Option*> secret_options_;
  std::map<const CLI::App*, const std::string*> database_paths_;
};

}  // namespace rs1ctl
