#include "run_as_owner.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "cli.hpp"

namespace rs1ctl {

std::string owning_directory(const std::string& db_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::absolute(fs::path(db_path), ec).parent_path();
  if (ec) dir = fs::path(db_path).parent_path();
  while (!dir.empty()) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) return dir.string();
    if (dir == dir.root_path()) break;
    dir = dir.parent_path();
  }
  return "/";
}

void run_as_owner_of(const std::string& db_path) {
  if (::geteuid() != 0) return;
  const std::string dir = owning_directory(db_path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    throw CommandError("cannot look at " + dir + ": " + std::strerror(errno));
  }
  if (st.st_uid == 0) return;

  const std::string owner = "uid " + std::to_string(st.st_uid);
  errno = 0;
  struct passwd entry {};
  struct passwd* found = nullptr;
  std::vector<char> buffer(16384);
  ::getpwuid_r(st.st_uid, &entry, buffer.data(), buffer.size(), &found);
  if (found == nullptr) {
    throw CommandError("running as root on " + dir + ", which belongs to " + owner +
                       " with no user entry: refusing to create files it could not use; run "
                       "rs1ctl as the directory's owner");
  }
  const std::string user = entry.pw_name;
  auto fail = [&](const char* step) {
    return CommandError("running as root on " + dir + ", which belongs to user " + user +
                        ": cannot become " + user + " (" + step + ": " + std::strerror(errno) +
                        "); run rs1ctl as " + user);
  };
  // Groups first: once the user id is dropped, the groups can no longer be.
  if (::initgroups(entry.pw_name, entry.pw_gid) != 0) throw fail("initgroups");
  if (::setgid(entry.pw_gid) != 0) throw fail("setgid");
  if (::setuid(entry.pw_uid) != 0) throw fail("setuid");
  // For good: a process that could become root again has not dropped anything.
  if (::setuid(0) == 0 || ::geteuid() == 0) {
    errno = EPERM;
    throw fail("root could be regained");
  }
  // The kernel makes a process that changed its user id non-dumpable. Be what
  // `sudo -u USER rs1ctl` would be: USER's own process, which holds nothing of
  // root's (LeakSanitizer, which must trace the process at exit, needs it too).
  ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

}  // namespace rs1ctl
