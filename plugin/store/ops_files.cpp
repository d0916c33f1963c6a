#include "store/ops_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace rs1 {
namespace {

using Json = nlohmann::json;

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw StoreError(errno == ENOSPC || errno == EIO || errno == EDQUOT ? StoreError::Kind::transient
                                                                      : StoreError::Kind::fatal,
                   what + " " + path + ": " + std::strerror(errno));
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void list_under(const std::string& root, const std::string& rel, std::vector<std::string>& out) {
  DIR* d = ::opendir((rel.empty() ? root : root + "/" + rel).c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string child = rel.empty() ? name : rel + "/" + name;
    struct stat st {};
    if (::stat((root + "/" + child).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      list_under(root, child, out);
    } else if (S_ISREG(st.st_mode)) {
      out.push_back(child);
    }
  }
  ::closedir(d);
}

}  // namespace

std::string archive_root(const std::string& data_dir) { return data_dir + "/archive/telemetry"; }
std::string backup_dir(const std::string& data_dir) { return data_dir + "/backups"; }

std::int64_t file_size_or_zero(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return 0;
    fail("cannot stat", path);
  }
  return static_cast<std::int64_t>(st.st_size);
}

void truncate_file(const std::string& path, std::int64_t size) {
  if (size == 0) {
    remove_file(path);
    fsync_path(parent_of(path));
    return;
  }
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0 && errno != ENOENT)
    fail("cannot truncate", path);
  fsync_path(path);
}

std::string archive_line(const ArchiveRow& row) {
  // The payload as the device sent it (a JSON object), not re-encoded.
  const bool object =
      Json::accept(row.payload) && !row.payload.empty() && row.payload.front() == '{';
  std::string line = "{\"device_id\":" + Json(row.device_id).dump() +
                     ",\"metric\":" + Json(row.metric).dump() +
                     ",\"received_at_ms\":" + std::to_string(row.received_at_ms) +
                     ",\"payload\":" + (object ? row.payload : Json(row.payload).dump()) + "}\n";
  return line;
}

void append_archive_member(const std::string& path, const std::vector<ArchiveRow>& rows) {
  make_directories(parent_of(path));
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  Fd file;
  file.fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (file.fd < 0) fail("cannot open", path);
  int gz_fd = ::dup(file.fd);
  if (gz_fd < 0) fail("cannot dup", path);
  gzFile gz = gzdopen(gz_fd, "ab6");
  if (!gz) {
    ::close(gz_fd);
    fail("cannot compress into", path);
  }
  gzbuffer(gz, 128 * 1024);
  bool ok = true;
  for (const auto& r : rows) {
    std::string line = archive_line(r);
    if (gzwrite(gz, line.data(), static_cast<unsigned>(line.size())) !=
        static_cast<int>(line.size())) {
      ok = false;
      break;
    }
  }
  if (gzclose(gz) != Z_OK) ok = false;  // writes the member's trailer
  if (!ok) {
    errno = EIO;
    fail("cannot write", path);
  }
  if (::fsync(file.fd) != 0) fail("cannot fsync", path);
  if (!existed) fsync_path(parent_of(path));
}

std::vector<std::string> list_archive_files(const std::string& root) {
  std::vector<std::string> out;
  list_under(root, "", out);
  std::sort(out.begin(), out.end());
  return out;
}

bool read_archive_file(const std::string& path,
                       const std::function<bool(TelemetryRecord&&)>& visit) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) fail("cannot open", path);
  gzbuffer(gz, 128 * 1024);
  std::string pending;
  char buf[65536];
  bool go_on = true;
  auto take = [&](const std::string& line) {
    Json j = Json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("device_id") || !j.contains("received_at_ms")) return true;
    TelemetryRecord r;
    r.device_id = j.value("device_id", "");
    r.metric = j.value("metric", "");
    r.received_at_ms = j.value("received_at_ms", std::int64_t{0});
    r.payload = j.contains("payload") ? j["payload"].dump() : "{}";
    return visit(std::move(r));
  };
  for (;;) {
    int n = gzread(gz, buf, sizeof buf);
    if (n < 0) {
      gzclose(gz);
      errno = EIO;
      fail("cannot read", path);
    }
    if (n == 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (!take(pending.substr(start, nl - start))) {
        go_on = false;
        break;
      }
    }
    pending.erase(0, start);
    if (!go_on) break;
  }
  if (go_on && !pending.empty()) go_on = take(pending);
  gzclose(gz);
  return go_on;
}

std::vector<BackupFile> list_backups(const std::string& dir) {
  std::vector<BackupFile> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::stat((dir + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    out.push_back(
        {name, static_cast<std::int64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtime)});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const BackupFile& a, const BackupFile& b) { return a.name < b.name; });
  return out;
}

void make_directories(const std::string& path) {
  if (path.empty()) return;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST)
      fail("cannot create directory", partial);
  }
}

void fsync_path(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) fail("cannot open", path);
  if (::fsync(f.fd) != 0) fail("cannot fsync", path);
}

void rename_durably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) fail("cannot rename " + from + " to", to);
  fsync_path(parent_of(to));
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail("cannot remove", path);
}

std::optional<DiskSpace> disk_space(const std::string& path) {
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) != 0) return std::nullopt;
  DiskSpace s;
  s.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  s.total_bytes = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  return s;
}

bool database_in_use(const std::string& path) {
  // SQLite's unix VFS: every connection to a WAL database holds a shared
  // lock on byte 128 of the -shm file (the "DMS" slot) while it is open.
  Fd shm;
  shm.fd = ::open((path + "-shm").c_str(), O_RDWR | O_CLOEXEC);
  if (shm.fd < 0) return false;
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = 128;
  lk.l_len = 1;
  if (::fcntl(shm.fd, F_GETLK, &lk) != 0) return false;
  return lk.l_type != F_UNLCK;
}

}  // namespace rs1

namespace rs1 {
bool signing_key_readable(const std::string& path, std::string& detail) {
  if (::access(path.c_str(), F_OK) != 0) {
    detail = path + " absent (created with the first firmware signing)";
    return true;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    detail = path + " not readable: " + std::strerror(errno);
    return false;
  }
  char c;
  ssize_t n = ::read(fd, &c, 1);
  ::close(fd);
  if (n < 0) {
    detail = path + " not readable: " + std::strerror(errno);
    return false;
  }
  detail = path + " readable";
  return true;
}
}  // namespace rs1
