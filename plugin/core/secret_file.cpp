#include "core/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace rs1 {

std::string read_secret_file(const std::string& path, const std::string& what) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) throw std::runtime_error(what + "cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    throw std::runtime_error(what + "not a regular file");
  }
  if (st.st_mode & 077) {
    close(fd);
    throw std::runtime_error(what + "group or world may access it (chmod 600 it)");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      throw std::runtime_error(what + "cannot read: " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 1 << 20) {
      close(fd);
      throw std::runtime_error(what + "larger than 1 MiB");
    }
  }
  close(fd);
  return text;
}

void create_secret_file_if_absent(const std::string& path, const std::string& what,
                                  const std::string& text) {
  if (access(path.c_str(), F_OK) == 0 || errno != ENOENT) return;
  int out = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    if (errno == EEXIST) return;
    throw std::runtime_error(what + "cannot create: " + std::strerror(errno));
  }
  bool ok =
      write(out, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(out) == 0;
  int err = errno;
  close(out);
  if (!ok) {
    unlink(path.c_str());
    throw std::runtime_error(what + "cannot write: " + std::strerror(err));
  }
}

}  // namespace rs1
