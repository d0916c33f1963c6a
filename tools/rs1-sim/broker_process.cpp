#include "broker_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace rs1::sim {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::uint64_t raise_file_limit(std::uint64_t wanted) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < wanted) {
    rlimit more{wanted, wanted};
    if (::setrlimit(RLIMIT_NOFILE, &more) == 0) return wanted;  // allowed to root
  }
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

namespace {

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::vector<std::string> broker_environment(bool with_plugin) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    if (kv.rfind("LD_PRELOAD=", 0) == 0 || kv.rfind("ASAN_OPTIONS=", 0) == 0 ||
        kv.rfind("TSAN_OPTIONS=", 0) == 0)
      continue;
    env.push_back(std::move(kv));
  }
#ifdef RS1_ASAN_RUNTIME
  if (with_plugin) {
    // The plugin is instrumented and mosquitto is not: the ASan runtime must
    // be the first library loaded, and libstdc++ must be there when it
    // starts or its __cxa_throw interceptor has nothing to forward the
    // plugin's exceptions to. Leaks in mosquitto itself are not ours.
    env.push_back(std::string("LD_PRELOAD=") + RS1_ASAN_RUNTIME + ":" + RS1_STDCXX_RUNTIME);
    env.push_back("ASAN_OPTIONS=detect_leaks=0:abort_on_error=0");
    env.push_back("UBSAN_OPTIONS=print_stacktrace=1");
  }
#elif defined(RS1_TSAN_RUNTIME)
  if (with_plugin) {
    // The same for ThreadSanitizer: its runtime first, so that it sees every
    // pthread and malloc call of mosquitto too, and libstdc++ for the
    // plugin's exceptions. The first race stops the broker (halt_on_error),
    // its report is in the broker's log.
    env.push_back(std::string("LD_PRELOAD=") + RS1_TSAN_RUNTIME + ":" + RS1_STDCXX_RUNTIME);
    env.push_back(std::string("TSAN_OPTIONS=") + RS1_TSAN_OPTIONS);
  }
#else
  (void)with_plugin;
#endif
  return env;
}

BrokerProcess::BrokerProcess(BrokerSetup setup) : setup_(std::move(setup)) {
  fs::create_directories(setup_.dir);
  conf_path_ = setup_.dir + "/mosquitto.conf";
  log_path_ = setup_.dir + "/mosquitto.log";
  // A port can be taken between the probe and mosquitto's bind: try again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    write_conf();
    spawn();
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (accepts(port_)) return;
      if (wait_exit(0ms)) break;
      std::this_thread::sleep_for(20ms);
    }
    bool exited = pid_ < 0;
    if (!exited) {
      ::kill(pid_, SIGKILL);
      wait_exit(5s);
    }
    if (!exited || log_tail(5).find("Address already in use") == std::string::npos) break;
  }
  throw std::runtime_error("mosquitto did not start (" + conf_path_ + "):\n" + log_tail());
}

BrokerProcess::~BrokerProcess() {
  if (pid_ < 0) return;
  ::kill(pid_, SIGTERM);
  if (!wait_exit(60s)) {
    ::kill(pid_, SIGKILL);
    wait_exit(5s);
  }
}

void BrokerProcess::write_conf() {
  std::ofstream conf(conf_path_, std::ios::trunc);
  conf << "# written by rs1-sim bench\n";
  // Started as root, mosquitto would drop to user mosquitto, who cannot
  // write this directory.
  if (::geteuid() == 0) conf << "user root\n";
  conf << "listener " << port_ << " 127.0.0.1\n"
       << "persistence false\n"
       << "log_dest file " << log_path_ << "\n"
       << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
       << "connection_messages false\n";
  if (with_plugin()) {
    conf << "allow_anonymous false\n"
         << "per_listener_settings false\n"
         << "plugin " << setup_.plugin_path << "\n"
         << "plugin_opt_db_path " << db_path() << "\n";
    for (const auto& [name, value] : setup_.plugin_options) {
      conf << "plugin_opt_" << name << " " << value << "\n";
    }
  } else if (!setup_.dynsec_config.empty()) {
    conf << "allow_anonymous false\n"
         << "per_listener_settings false\n"
         << "plugin " << setup_.dynsec_plugin << "\n"
         << "plugin_opt_config_file " << setup_.dynsec_config << "\n";
  } else {
    conf << "allow_anonymous true\n";
  }
  for (const auto& line : setup_.extra_conf) conf << line << "\n";
  if (!conf.flush()) throw std::runtime_error("cannot write " + conf_path_);
}

void BrokerProcess::spawn() {
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) throw std::runtime_error("cannot open " + log_path_);
  // Built before fork: the child may only make async-signal-safe calls.
  std::vector<std::string> args = {setup_.mosquitto_bin, "-c", conf_path_};
  std::vector<std::string> env = broker_environment(with_plugin());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the bench
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
#ifdef SYS_close_range
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
#endif
    ::signal(SIGPIPE, SIG_DFL);
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(null_fd);
  pid_ = pid;
}

bool BrokerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ < 0) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

void BrokerProcess::stop(std::chrono::seconds timeout) {
  if (pid_ < 0) return;
  pid_t pid = pid_;
  ::kill(pid, SIGTERM);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      pid_ = -1;
      throw std::runtime_error("mosquitto did not stop within " + std::to_string(timeout.count()) +
                               " s:\n" + log_tail());
    }
    std::this_thread::sleep_for(10ms);
  }
  pid_ = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("mosquitto did not exit cleanly:\n" + log_tail());
  }
}

std::int64_t BrokerProcess::rss_bytes() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream in(line.substr(6));
      std::int64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
  }
  throw std::runtime_error("cannot read the memory of process " + std::to_string(pid_));
}

std::string BrokerProcess::log_tail(std::size_t lines) const {
  std::ifstream log(log_path_);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(log, line)) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += "  " + l + "\n";
  return out;
}

}  // namespace rs1::sim
