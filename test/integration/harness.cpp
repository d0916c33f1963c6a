#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "rs1-sim/broker_process.hpp"

extern char** environ;

namespace rs1::it {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path, std::size_t offset = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::size_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::size_t>(size);
}

int tcp_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

ExitStatus status_of(int raw) {
  ExitStatus s;
  if (WIFEXITED(raw)) {
    s.exited = true;
    s.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    s.signal = WTERMSIG(raw);
  }
  return s;
}

bool has_sanitizer_report(const std::string& log) {
  return contains(log, "AddressSanitizer") || contains(log, "LeakSanitizer") ||
         contains(log, "UndefinedBehaviorSanitizer") || contains(log, "runtime error:") ||
         contains(log, "ThreadSanitizer");
}

std::string tail(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : "...\n" + s.substr(s.size() - n);
}

// Catch2 is not thread-safe: no assertion, not even a passing one, may run
// on a helper thread of a test (the ThreadSanitizer build caught
// run_command's on a std::async thread racing with the test's own). The
// test cases run on the thread that initialises the statics.
const std::thread::id kTestThread = std::this_thread::get_id();
bool on_test_thread() { return std::this_thread::get_id() == kTestThread; }

// What went wrong on a helper thread waits here, under its mutex, for the
// test's thread to report it (report_helper_failures).
std::mutex helper_failures_mu;
std::vector<std::string> helper_failures;

void helper_failure(const std::string& what) {
  std::cerr << "rs1-it: on a helper thread: " << what << "\n";
  std::lock_guard<std::mutex> lock(helper_failures_mu);
  helper_failures.push_back(what);
}

}  // namespace

void report_helper_failures() {
  std::vector<std::string> failures;
  {
    std::lock_guard<std::mutex> lock(helper_failures_mu);
    failures.swap(helper_failures);
  }
  for (const auto& f : failures) FAIL_CHECK("on a helper thread of the test: " << f);
}

// Another test may take it before mosquitto binds it: start() retries on
// "Address already in use".
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool& current_test_failed() {
  static bool failed = false;
  return failed;
}

bool wait_until(const std::function<bool()>& pred, Millis timeout, Millis poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(poll);
  }
}

std::int64_t unix_s() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string zone_config(int zones, int sensitivity) {
  nlohmann::json z = nlohmann::json::array();
  for (int i = 1; i <= zones; ++i) {
    z.push_back({{"id", i},
                 {"name", "Zone " + std::to_string(i)},
                 {"type", i % 2 ? "detect" : "exclude"},
                 {"points", {{-100 * i, 100}, {100 * i, 100}, {0, 200 * i}}}});
  }
  return nlohmann::json{{"zones", z}, {"sensitivity", sensitivity}}.dump();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (contains(line, needle)) ++n;
  }
  return n;
}

BrokerConfig opts(std::vector<std::pair<std::string, std::string>> plugin_options) {
  BrokerConfig c;
  c.plugin_options = std::move(plugin_options);
  return c;
}

std::string ExitStatus::describe() const {
  if (exited) return "exited with code " + std::to_string(code);
  if (signal)
    return std::string("killed by signal ") + std::to_string(signal) + " (" + strsignal(signal) +
           ")";
  return "still running";
}

// ---------------------------------------------------------------- BrokerRunner

BrokerRunner::BrokerRunner(BrokerConfig config, Start start) : config_(std::move(config)) {
  char tmpl[] = "/tmp/rs1-it-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  dir_ = tmpl;
  db_path_ = config_.db_path.value_or(dir_ + "/rs1.db");
  conf_path_ = dir_ + "/mosquitto.conf";
  log_path_ = dir_ + "/mosquitto.log";
  if (start == Start::now) this->start();
}

BrokerRunner::~BrokerRunner() {
  if (pid_ > 0) {
    // The test is over: stop without asserting; a hang ends in SIGKILL.
    ::kill(pid_, SIGTERM);
    if (!reap(true, 30s)) {
      ::kill(pid_, SIGKILL);
      reap(true, 10s);
    }
  }
  report_helper_failures();
  const std::string text = log();
  if (has_sanitizer_report(text)) {
    // Under RS1_SANITIZE or RS1_TSAN the plugin inside mosquitto is
    // instrumented: a report in the broker's output is a failure of this test.
    FAIL_CHECK("sanitizer report in the broker log:\n" << tail(text, 16000));
  }
  if (current_test_failed()) {
    std::cerr << "rs1-it: test failed; kept " << dir_ << "\n--- broker log (tail) ---\n"
              << tail(text, 6000) << "\n--- end of broker log ---\n";
    return;
  }
  if (std::getenv("RS1_IT_KEEP")) {
    std::cerr << "rs1-it: RS1_IT_KEEP set; kept " << dir_ << "\n";
    return;
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

FaultControl::FaultControl(std::string path) : path_(std::move(path)) { clear(); }

FaultControl::~FaultControl() { ::unlink(path_.c_str()); }

void FaultControl::set(const std::vector<std::string>& rules) {
  const std::string tmp = path_ + ".new";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& r : rules) out << r << "\n";
    REQUIRE(out.good());
  }
  REQUIRE(::rename(tmp.c_str(), path_.c_str()) == 0);
  std::this_thread::sleep_for(30ms);
}

std::map<std::string, std::optional<std::string>> FaultControl::environment() const {
  std::string preload = RS1_FAULTFS_PATH;
#ifdef RS1_ASAN_RUNTIME
  // An instrumented rs1ctl wants the ASan runtime first in the library list.
  preload = std::string(RS1_ASAN_RUNTIME) + ":" + preload;
#elif defined(RS1_TSAN_RUNTIME)
  preload = std::string(RS1_TSAN_RUNTIME) + ":" + preload;
#endif
  return {{"LD_PRELOAD", preload}, {"RS1_FAULTFS_CONTROL", path_}};
}

std::string BrokerRunner::log() const { return read_file(log_path_); }
std::string BrokerRunner::log_of_this_run() const { return read_file(log_path_, log_offset_); }
std::string BrokerRunner::conf() const { return read_file(conf_path_); }

void BrokerRunner::sync_changes() {
  std::int64_t latest = 0;
  {
    auto db = open_sqlite(db_path_, SqliteTuning::interactive);
    latest = db->change_feed().latest_seq();
  }
  if (latest == 0) return;
  const std::string marker = "rs1: changes applied up to seq ";
  auto applied = [&] {
    const std::string log = log_of_this_run();
    for (std::size_t at = log.find(marker); at != std::string::npos;
         at = log.find(marker, at + 1)) {
      if (std::atoll(log.c_str() + at + marker.size()) >= latest) return true;
    }
    return false;
  };
  INFO("the broker applies the changes up to seq " << latest << " within 2 s\n"
                                                   << log_of_this_run());
  REQUIRE(wait_until(applied, 2s));
}

void BrokerRunner::write_conf() {
  std::ofstream out(conf_path_, std::ios::trunc);
  out << "# Generated by the RS-1 integration harness for one test.\n"
         "per_listener_settings false\n"
         "allow_anonymous false\n"
         "persistence false\n"
         "log_dest stderr\n"
         "log_type error\n"
         "log_type warning\n"
         "log_type notice\n"
         "log_type information\n"
         "set_tcp_nodelay true\n";
  out << "max_packet_size " << config_.max_packet_size << "\n";
  if (config_.keep_user && ::geteuid() == 0) {
    out << "# Started as root, mosquitto drops to user `mosquitto` unless `user` is\n"
           "# root; the test made this directory and database as root and must keep\n"
           "# reading, writing and removing them, so the broker keeps the test's user.\n"
           "user root\n";
  }
  std::string plugin = RS1_PLUGIN_PATH;
  if (!config_.keep_user && ::geteuid() == 0) {
    // The broker will run as `mosquitto`, which may not be able to reach the
    // build tree (a clone under /root, say): give it a copy it can read.
    plugin = dir_ + "/rs1_plugin.so";
    std::filesystem::copy_file(RS1_PLUGIN_PATH, plugin,
                               std::filesystem::copy_options::overwrite_existing);
    REQUIRE(::chmod(plugin.c_str(), 0755) == 0);
  }
  out << "listener " << port_ << " 127.0.0.1\n"
      << "plugin " << plugin << "\n";
  if (config_.with_db_path) out << "plugin_opt_db_path " << db_path_ << "\n";
  for (const auto& [name, value] : config_.plugin_options) {
    out << "plugin_opt_" << name << " " << value << "\n";
  }
  out.close();
  REQUIRE(out.good());
}

void BrokerRunner::spawn() {
  log_offset_ = file_size_or_zero(log_path_);
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  REQUIRE(log_fd >= 0);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(null_fd >= 0);

  // Everything the child needs is built before fork: after it only
  // async-signal-safe calls are allowed.
  std::vector<std::string> args = {RS1_MOSQUITTO_BIN, "-c", conf_path_};
  std::vector<std::string> env = sim::broker_environment(true);
  std::vector<std::string> extras = config_.environment;
  if (config_.fault_control) {
    extras.push_back(std::string("LD_PRELOAD=") + RS1_FAULTFS_PATH);
    extras.push_back("RS1_FAULTFS_CONTROL=" + *config_.fault_control);
  }
  for (const auto& extra : extras) {
    const std::string preload = "LD_PRELOAD=";
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const std::string& e) { return e.rfind(preload, 0) == 0; });
    if (extra.rfind(preload, 0) == 0 && it != env.end()) {
      *it += ":" + extra.substr(preload.size());
    } else {
      env.push_back(extra);
    }
  }
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const std::optional<rlim_t> fsize = config_.file_size_limit;

  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Dies with the test, even when ctest kills the test on a timeout.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // No client socket of the test may live on in the broker.
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
    {
      for (int fd = 3; fd < 4096; ++fd) ::close(fd);
    }
    ::signal(SIGPIPE, SIG_DFL);
    if (fsize) {
      ::signal(SIGXFSZ, SIG_IGN);  // kept across exec: a write past the limit fails with EFBIG
      struct rlimit rl;
      ::getrlimit(RLIMIT_FSIZE, &rl);
      rl.rlim_cur = *fsize;  // the hard limit stays, so prlimit can raise it again
      ::setrlimit(RLIMIT_FSIZE, &rl);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(null_fd);
  pid_ = pid;
}

bool BrokerRunner::reap(bool block, Millis timeout) {
  if (pid_ <= 0) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int raw = 0;
    pid_t r = ::waitpid(pid_, &raw, WNOHANG);
    if (r == pid_) {
      last_status_ = status_of(raw);
      pid_ = -1;
      return true;
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      return true;
    }
    if (!block || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

BrokerRunner::Ready BrokerRunner::wait_ready(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (reap(false, 0ms)) {
      return contains(log_of_this_run(), "Address already in use") ? Ready::port_in_use
                                                                   : Ready::exited;
    }
    // mosquitto prints "running" once its listener is open; the port could
    // also be another test's broker, so the line in our own log decides.
    if (contains(log_of_this_run(), " running")) {
      int fd = tcp_connect(port_);
      if (fd >= 0) {
        ::close(fd);
        return Ready::yes;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return Ready::timeout;
    std::this_thread::sleep_for(10ms);
  }
}

void BrokerRunner::start() {
  REQUIRE(pid_ <= 0);
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    write_conf();
    spawn();
    switch (wait_ready(10s)) {
      case Ready::yes:
        return;
      case Ready::port_in_use:
        continue;
      case Ready::exited:
        FAIL("mosquitto exited at start (" << last_status_.describe() << "); log:\n" << log());
        break;
      case Ready::timeout:
        ::kill(pid_, SIGKILL);
        reap(true, 10s);
        FAIL("mosquitto did not serve on port " << port_ << " within 10 s; log:\n" << log());
        break;
    }
  }
  FAIL("no free port for mosquitto after 5 attempts; log:\n" << log());
}

ExitStatus BrokerRunner::start_expecting_failure(Millis timeout) {
  REQUIRE(pid_ <= 0);
  port_ = free_port();
  write_conf();
  spawn();
  if (reap(true, timeout)) return last_status_;
  ::kill(pid_, SIGKILL);
  reap(true, 10s);
  return ExitStatus{};  // did not exit by itself
}

ExitStatus BrokerRunner::stop(Millis timeout) {
  if (pid_ <= 0) return last_status_;
  ::kill(pid_, SIGTERM);
  if (!reap(true, timeout)) {
    ::kill(pid_, SIGKILL);
    reap(true, 10s);
    FAIL_CHECK("mosquitto did not exit within " << timeout.count() << " ms of SIGTERM");
    return ExitStatus{};
  }
  return last_status_;
}

ExitStatus BrokerRunner::kill9() {
  if (pid_ <= 0) return last_status_;
  ::kill(pid_, SIGKILL);
  reap(true, 10s);
  return last_status_;
}

bool BrokerRunner::running() { return pid_ > 0 && !reap(false, 0ms); }

// ---------------------------------------------------------------- run_command

// REQUIRE on the test's thread; on a helper thread the failure is kept for
// the test's thread and the command is not run.
#define RS1_COMMAND_REQUIRE(cond)                    \
  do {                                               \
    if (on_test_thread()) {                          \
      REQUIRE(cond);                                 \
    } else if (!(cond)) {                            \
      helper_failure("run_command: failed: " #cond); \
      return CommandResult{};                        \
    }                                                \
  } while (false)

CommandResult run_command(const std::vector<std::string>& argv_in,
                          const std::map<std::string, std::optional<std::string>>& env_changes,
                          const std::string& cwd, Millis timeout,
                          const std::optional<std::string>& stdin_text) {
  RS1_COMMAND_REQUIRE(!argv_in.empty());
  // Everything the child needs is built before fork (the test has threads).
  std::vector<std::string> args = argv_in;
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    const std::string name = kv.substr(0, kv.find('='));
    if (env_changes.count(name) != 0) continue;
    env.push_back(std::move(kv));
  }
  for (const auto& [name, value] : env_changes) {
    if (value) env.push_back(name + "=" + *value);
  }
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* dir = cwd.empty() ? nullptr : cwd.c_str();

  int out_pipe[2], err_pipe[2];
  RS1_COMMAND_REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
  RS1_COMMAND_REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  RS1_COMMAND_REQUIRE(null_fd >= 0);
  // Standard input from a pipe we feed while reading the output, so neither
  // side can fill its pipe and wait for the other.
  int in_pipe[2] = {-1, -1};
  if (stdin_text) {
    RS1_COMMAND_REQUIRE(::pipe2(in_pipe, O_CLOEXEC) == 0);
    RS1_COMMAND_REQUIRE(::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK) == 0);
  }
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  RS1_COMMAND_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(stdin_text ? in_pipe[0] : null_fd, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::signal(SIGPIPE, SIG_DFL);
    if (dir && ::chdir(dir) != 0) ::_exit(127);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(null_fd);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  std::size_t stdin_written = 0;
  if (stdin_text) {
    ::close(in_pipe[0]);
    if (stdin_text->empty()) {
      ::close(in_pipe[1]);
      in_pipe[1] = -1;
    }
  }

  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (in_pipe[1] >= 0) {
      // Whatever fits now; the rest on a later turn (at most every 10 ms).
      ssize_t w = ::write(in_pipe[1], stdin_text->data() + stdin_written,
                          stdin_text->size() - stdin_written);
      if (w > 0) stdin_written += static_cast<std::size_t>(w);
      if (stdin_written == stdin_text->size() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
        ::close(in_pipe[1]);  // done, or the program closed its end (EPIPE)
        in_pipe[1] = -1;
      }
    }
    const int wait_ms = in_pipe[1] >= 0 ? std::min<int>(10, static_cast<int>(left.count()))
                                        : static_cast<int>(left.count());
    int n = ::poll(fds, 2, wait_ms);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[4096];
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  if (in_pipe[1] >= 0) ::close(in_pipe[1]);
  int raw = 0;
  while (::waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
  }
  result.status = status_of(raw);
  result.exit_code = result.status.exited ? result.status.code : -1;
  if (timed_out) {
    const std::string what =
        args.front() + " did not finish within " + std::to_string(timeout.count()) + " ms";
    if (on_test_thread()) {
      FAIL_CHECK(what);
    } else {
      helper_failure(what);
    }
  }
  if (has_sanitizer_report(result.err)) {
    const std::string what =
        "sanitizer report from " + args.front() + ":\n" + tail(result.err, 16000);
    if (on_test_thread()) {
      FAIL_CHECK(what);
    } else {
      helper_failure(what);
    }
  }
  if (on_test_thread()) report_helper_failures();
  return result;
}
#undef RS1_COMMAND_REQUIRE

// ---------------------------------------------------------------- MqttClient

namespace {
void lib_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

// A client used from a helper thread of a test reports its errors on
// stderr instead of in the test's messages (see kTestThread).
void note_client_error(const std::string& what, int rc) {
  if (std::this_thread::get_id() == kTestThread) {
    UNSCOPED_INFO(what << mosquitto_strerror(rc));
  } else {
    std::cerr << what << mosquitto_strerror(rc) << "\n";
  }
}
}  // namespace

MqttClient::MqttClient(std::string client_id, Protocol protocol, bool clean_session)
    : client_id_(std::move(client_id)), protocol_(protocol) {
  lib_init_once();
  mosq_ = mosquitto_new(client_id_.empty() ? nullptr : client_id_.c_str(), clean_session, this);
  REQUIRE(mosq_ != nullptr);
  mosquitto_threaded_set(mosq_, true);
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION,
                       protocol == Protocol::v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
  mosquitto_connect_v5_callback_set(mosq_, &MqttClient::on_connect);
  mosquitto_disconnect_v5_callback_set(mosq_, &MqttClient::on_disconnect);
  mosquitto_publish_v5_callback_set(mosq_, &MqttClient::on_publish);
  mosquitto_subscribe_v5_callback_set(mosq_, &MqttClient::on_subscribe);
  mosquitto_message_v5_callback_set(mosq_, &MqttClient::on_message);
}

MqttClient::~MqttClient() {
  if (connected()) {
    mosquitto_disconnect(mosq_);
    wait_disconnected(2s);
  }
  stop_loop();
  mosquitto_destroy(mosq_);
}

void MqttClient::credentials(const std::string& username, const std::string& password) {
  REQUIRE(mosquitto_username_pw_set(mosq_, username.c_str(), password.c_str()) == MOSQ_ERR_SUCCESS);
}

void MqttClient::will(const std::string& topic, const std::string& payload, int qos, bool retain) {
  REQUIRE(mosquitto_will_set(mosq_, topic.c_str(), static_cast<int>(payload.size()), payload.data(),
                             qos, retain) == MOSQ_ERR_SUCCESS);
}

void MqttClient::stop_loop() {
  stop_loop_ = true;
  if (loop_.joinable()) loop_.join();
  stop_loop_ = false;
}

int MqttClient::connect(int port, int keepalive, Millis timeout, const char* bind_address) {
  stop_loop();
  {
    std::lock_guard<std::mutex> lock(mu_);
    connack_.reset();
    ended_ = false;
    session_live_ = false;
    disconnect_rc_ = 0;
  }
  int rc = mosquitto_connect_bind_v5(mosq_, "127.0.0.1", port, keepalive, bind_address, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    note_client_error("mosquitto_connect: ", rc);
    return kNoAnswer;
  }
  // Our own network loop rather than mosquitto_loop_start: that one
  // reconnects by itself, and a test must see every login it makes.
  loop_ = std::thread([this] {
    while (!stop_loop_) {
      if (mosquitto_loop(mosq_, 20, 1) != MOSQ_ERR_SUCCESS) break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    session_live_ = false;
    ended_ = true;
    cv_.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return connack_.has_value() || ended_; });
  return connack_.value_or(kNoAnswer);
}

int MqttClient::publish(const std::string& topic, const std::string& payload, int qos, bool retain,
                        Millis timeout) {
  int mid = 0;
  int rc = mosquitto_publish_v5(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                                payload.data(), qos, retain, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    note_client_error("mosquitto_publish(" + topic + "): ", rc);
    return kNotSent;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (qos == 0) {
    // on_publish fires when it is written; nobody waits for it.
    if (acks_.erase(mid) == 0) qos0_mids_.insert(mid);
    return 0;
  }
  cv_.wait_for(lock, timeout, [&] { return acks_.count(mid) != 0 || ended_; });
  auto it = acks_.find(mid);
  if (it == acks_.end()) return kNoAnswer;
  int code = it->second;
  acks_.erase(it);
  return code;
}

int MqttClient::subscribe(const std::string& filter, int qos, Millis timeout) {
  int mid = 0;
  int rc = mosquitto_subscribe_v5(mosq_, &mid, filter.c_str(), qos, 0, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    note_client_error("mosquitto_subscribe(" + filter + "): ", rc);
    return kNotSent;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return subacks_.count(mid) != 0 || ended_; });
  auto it = subacks_.find(mid);
  if (it == subacks_.end()) return kNoAnswer;
  int code = it->second;
  subacks_.erase(it);
  return code;
}

std::optional<Message> MqttClient::wait_for_message(Millis timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !messages_.empty(); })) return std::nullopt;
  Message m = std::move(messages_.front());
  messages_.pop_front();
  return m;
}

std::size_t MqttClient::received_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

void MqttClient::disconnect() {
  mosquitto_disconnect(mosq_);
  wait_disconnected(5s);
  stop_loop();
}

void MqttClient::kill_network() {
  stop_loop();
  int fd = mosquitto_socket(mosq_);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);  // the broker sees the socket close without DISCONNECT
  std::lock_guard<std::mutex> lock(mu_);
  session_live_ = false;
  ended_ = true;
}

bool MqttClient::wait_disconnected(Millis timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return ended_; });
}

bool MqttClient::connected() {
  std::lock_guard<std::mutex> lock(mu_);
  return session_live_;
}

int MqttClient::disconnect_code() {
  std::lock_guard<std::mutex> lock(mu_);
  return disconnect_rc_;
}

void MqttClient::on_connect(mosquitto*, void* obj, int rc, int, const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->connack_ = rc;
  self->session_live_ = rc == 0;
  self->cv_.notify_all();
}

void MqttClient::on_disconnect(mosquitto*, void* obj, int rc, const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->disconnect_rc_ = rc;
  self->session_live_ = false;
  self->ended_ = true;
  self->cv_.notify_all();
}

void MqttClient::on_publish(mosquitto*, void* obj, int mid, int rc, const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  std::lock_guard<std::mutex> lock(self->mu_);
  if (self->qos0_mids_.erase(mid) != 0) return;
  self->acks_[mid] = rc;
  self->cv_.notify_all();
}

void MqttClient::on_subscribe(mosquitto*, void* obj, int mid, int count, const int* granted,
                              const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->subacks_[mid] = count > 0 ? granted[0] : kNoAnswer;
  self->cv_.notify_all();
}

void MqttClient::on_message(mosquitto*, void* obj, const mosquitto_message* msg,
                            const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  Message m;
  m.topic = msg->topic ? msg->topic : "";
  if (msg->payload && msg->payloadlen > 0) {
    m.payload.assign(static_cast<const char*>(msg->payload),
                     static_cast<std::size_t>(msg->payloadlen));
  }
  m.qos = msg->qos;
  m.retain = msg->retain;
  std::lock_guard<std::mutex> lock(self->mu_);
  self->messages_.push_back(std::move(m));
  ++self->received_;
  self->cv_.notify_all();
}

// ---------------------------------------------------------------- RawMqttConnection

namespace {

void put_string(std::string& out, const std::string& s) {
  out.push_back(static_cast<char>((s.size() >> 8) & 0xff));
  out.push_back(static_cast<char>(s.size() & 0xff));
  out += s;
}

bool read_exact(int fd, unsigned char* buf, std::size_t n, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t got = 0;
  while (got < n) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

// A fixed header byte, the remaining length (variable-length encoded) and the body.
std::string mqtt_packet(std::uint8_t header, const std::string& body) {
  std::string packet(1, static_cast<char>(header));
  std::size_t len = body.size();
  do {
    unsigned char byte = len % 128;
    len /= 128;
    if (len > 0) byte |= 0x80;
    packet.push_back(static_cast<char>(byte));
  } while (len > 0);
  return packet + body;
}

void put_mid(std::string& out, int mid) {
  out.push_back(static_cast<char>((mid >> 8) & 0xff));
  out.push_back(static_cast<char>(mid & 0xff));
}

void write_all(int fd, const std::string& bytes) {
  REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
}

}  // namespace

RawMqttConnection::~RawMqttConnection() {
  if (fd_ >= 0) ::close(fd_);
}

int RawPacket::ack_mid() const {
  if (body.size() < 2) return -1;
  return (static_cast<unsigned char>(body[0]) << 8) | static_cast<unsigned char>(body[1]);
}

int RawMqttConnection::connect(int port, const std::string& client_id, const std::string& username,
                               const std::string& password, int keepalive_s, Millis timeout,
                               bool clean_session) {
  fd_ = tcp_connect(port);
  REQUIRE(fd_ >= 0);
  std::string body;
  put_string(body, "MQTT");
  body.push_back(4);  // protocol level 3.1.1
  body.push_back(
      static_cast<char>(0x80 | 0x40 | (clean_session ? 0x02 : 0)));  // username, password
  body.push_back(static_cast<char>((keepalive_s >> 8) & 0xff));
  body.push_back(static_cast<char>(keepalive_s & 0xff));
  put_string(body, client_id);
  put_string(body, username);
  put_string(body, password);
  write_all(fd_, mqtt_packet(0x10, body));
  auto connack = read_packet(timeout);
  if (!connack || connack->type() != 2 || connack->body.size() != 2) return -1;
  session_present_ = (connack->body[0] & 0x01) != 0;
  return static_cast<unsigned char>(connack->body[1]);
}

void RawMqttConnection::publish(const std::string& topic, const std::string& payload, int qos,
                                int mid, bool dup) {
  std::string body;
  put_string(body, topic);
  put_mid(body, mid);
  body += payload;
  write_all(fd_,
            mqtt_packet(static_cast<std::uint8_t>(0x30 | (dup ? 0x08 : 0) | (qos << 1)), body));
}

void RawMqttConnection::pubrel(int mid) {
  std::string body;
  put_mid(body, mid);
  write_all(fd_, mqtt_packet(0x62, body));
}

std::optional<RawPacket> RawMqttConnection::read_packet(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::max(
        Millis(1), std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()));
  };
  unsigned char byte = 0;
  if (!read_exact(fd_, &byte, 1, left())) return std::nullopt;
  RawPacket packet;
  packet.header = byte;
  std::size_t len = 0;
  for (int shift = 0; shift <= 21; shift += 7) {
    if (!read_exact(fd_, &byte, 1, left())) return std::nullopt;
    len |= static_cast<std::size_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) break;
  }
  packet.body.resize(len);
  if (len > 0 &&
      !read_exact(fd_, reinterpret_cast<unsigned char*>(packet.body.data()), len, left()))
    return std::nullopt;
  return packet;
}

void RawMqttConnection::drop() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawMqttConnection::wait_closed_by_broker(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    ssize_t r = ::read(fd_, buf, sizeof buf);
    if (r <= 0) return true;  // EOF or reset: the broker closed it
  }
}

// ---------------------------------------------------------------- Fleet

std::string Device::password(std::int64_t offset_hours) const {
  // A password is sent right after it is made: never let the hour turn in
  // between, or "previous hour" becomes "two hours old".
  wait_until([] { return 3600 - unix_s() % 3600 > 3; }, 5s, 100ms);
  return password_for_hour(secret_hash, id, hour_of(unix_s()) + offset_hours);
}

Fleet::Fleet(const std::string& db_path) : store_(open_sqlite(db_path, SqliteTuning::interactive)) {
  store_->migrate();
}

Device Fleet::add_device(const std::string& id) {
  DeviceSecret s = new_device_secret();
  store_->devices().add_one(id, std::string("rs1-test"), s.secret_hash, unix_s());
  return Device{id, s.secret, s.secret_hash};
}

Account Fleet::add_account(const std::string& username, Role role) {
  std::string password = new_account_password();
  AccountPassword hashed = hash_account_password(password);
  store_->accounts().add(username, role, hashed.salt_hex, hashed.hash_hex, unix_s());
  return Account{username, password};
}

void Fleet::revoke(const std::string& id) { REQUIRE(store_->devices().set_status(id, "revoked")); }
void Fleet::enable(const std::string& id) { REQUIRE(store_->devices().set_status(id, "active")); }

void Fleet::set_online_by_hand(const std::string& id, bool online) {
  auto creds = store_->devices().find_credentials(id);
  REQUIRE(creds);
  WriteBatch batch;
  DeviceUpdate u;
  u.device_ref = creds->ref;
  u.last_seen = unix_s();
  u.online = online;
  batch.devices.push_back(u);
  store_->ingest().write_batch(batch);
}

std::optional<DeviceRecord> Fleet::device(const std::string& id) {
  return store_->devices().get(id);
}

bool Fleet::online(const std::string& id) {
  auto d = store_->devices().get(id);
  return d && d->online;
}

std::vector<TelemetryRecord> Fleet::telemetry(const std::string& device_id,
                                              std::optional<std::string> metric) {
  TelemetryQuery q;
  q.device_id = device_id;
  q.metric = std::move(metric);
  q.limit = 10000000;
  return store_->telemetry().query(q);
}

std::size_t Fleet::telemetry_count(const std::string& device_id) {
  return telemetry(device_id).size();
}

std::vector<SecurityEvent> Fleet::events(const std::string& type) {
  SecurityLogQuery q;
  q.event_type = type;
  q.limit = 100000;
  return store_->security_log().query(q);
}

// ---------------------------------------------------------------- shortcuts

namespace {

// The broker answers logins from memory and learns of an identity
// provisioned a moment ago from the change feed within 2 s (SPEC §8): a
// refusal in that window is tried again, a refusal after it fails the test.
std::unique_ptr<MqttClient> connect_within_2s(const BrokerRunner& broker,
                                              const std::string& client_id,
                                              const std::string& username,
                                              const std::string& password, Protocol protocol) {
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  for (;;) {
    auto client = std::make_unique<MqttClient>(client_id, protocol);
    client->credentials(username, password);
    const int rc = client->connect(broker.port());
    const bool refused = rc == 5 || rc == 0x87;
    if (rc == 0 || !refused || std::chrono::steady_clock::now() >= deadline) {
      INFO(username << " logs in");
      REQUIRE(rc == 0);
      return client;
    }
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace

std::unique_ptr<MqttClient> connect_device(const BrokerRunner& broker, const Device& device,
                                           Protocol protocol) {
  return connect_within_2s(broker, device.id, device.id, device.password(), protocol);
}

std::unique_ptr<MqttClient> connect_account(const BrokerRunner& broker, const Account& account,
                                            Protocol protocol) {
  return connect_within_2s(broker, account.username + "-session", account.username,
                           account.password, protocol);
}

DeviceAndService::DeviceAndService(BrokerConfig config)
    : broker(std::move(config)),
      fleet(broker.db_path()),
      dev(fleet.add_device("dev-a")),
      svc(fleet.add_account("backend", Role::service)) {
  broker.sync_changes();
}

bool writer_barrier(MqttClient& device_client, Fleet& fleet, const std::string& device_id,
                    Millis timeout) {
  static std::atomic<int> seq{0};
  const std::string marker = std::to_string(unix_ms()) + "-" + std::to_string(++seq);
  const std::string payload = nlohmann::json{{"barrier", marker}}.dump();
  const int rc =
      device_client.publish("opticworks/" + device_id + "/telemetry/barrier", payload, 1);
  if (rc != 0 && rc != 0x10) {
    UNSCOPED_INFO("barrier publish answered " << rc);
    return false;
  }
  return wait_until(
      [&] {
        for (const auto& r : fleet.telemetry(device_id, std::string("barrier"))) {
          if (r.payload == payload) return true;
        }
        return false;
      },
      timeout, 20ms);
}

std::size_t fill_until_writes_fail(BrokerRunner& broker, Fleet& fleet, MqttClient& device_client,
                                   const std::string& device_id) {
  const std::string topic = "opticworks/" + device_id + "/telemetry/fill";
  const std::string pad(1000, 'x');
  auto failing = [&] {
    const std::string log = broker.log();
    return count_lines_with(log, "database write failed") >
           count_lines_with(log, "database writes recovered");
  };
  std::size_t published = 0;
  bool failed = false;
  for (int round = 0; round < 60 && !failed; ++round) {
    for (int i = 0; i < 200; ++i, ++published) {
      REQUIRE(device_client.publish(topic, nlohmann::json{{"i", published}, {"pad", pad}}.dump(),
                                    0) == 0);
    }
    const int rc =
        device_client.publish(topic, nlohmann::json{{"i", published}, {"pad", pad}}.dump(), 1);
    ++published;
    REQUIRE((rc == 0 || rc == 0x10));  // accepted: the disk is not the publisher's problem
    if (!wait_until([&] { return failing() || fleet.telemetry_count(device_id) == published; }, 5s,
                    20ms) ||
        !failing()) {
      continue;
    }
    // Longer than a checkpoint interval (1 s) plus the writer's longest
    // wait between retries (2 s): a failure still there is the disk's.
    std::this_thread::sleep_for(3500ms);
    failed = failing();
  }
  INFO("published " << published << " rows");
  REQUIRE(failed);
  return published;
}

void expect_startup_failure(BrokerRunner& broker, const std::vector<std::string>& expected) {
  const auto t0 = std::chrono::steady_clock::now();
  ExitStatus st = broker.start_expecting_failure(10s);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  const std::string log = broker.log();
  INFO("broker log:\n" << log);
  INFO("status: " << st.describe());
  REQUIRE(st.exited);
  CHECK(st.code != 0);
  CHECK(elapsed < 5s);
  CHECK(count_lines_with(log, "rs1:") == 1);
  std::string line;
  std::istringstream in(log);
  for (std::string l; std::getline(in, l);) {
    if (contains(l, "rs1:")) line = l;
  }
  for (const auto& e : expected) {
    CAPTURE(e);
    CHECK(contains(line, e));
  }
}

}  // namespace rs1::it
