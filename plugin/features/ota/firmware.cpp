#include "features/ota/firmware.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/identity.hpp"
#include "core/store_error.hpp"

namespace rs1 {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

struct MdFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

std::string errno_text() { return std::strerror(errno); }

// One clear line; a full disk as its own type, so callers can say so.
[[noreturn]] void throw_disk_error(const std::string& why, int err) {
  if (err == ENOSPC || err == EDQUOT) throw ImageStoreFull(why);
  throw std::runtime_error(why);
}

void make_dir(const std::string& path) {
  if (mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
    const int err = errno;
    throw_disk_error("cannot create " + path + ": " + std::strerror(err), err);
  }
}

}  // namespace

bool is_valid_firmware_version(const std::string& v) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '+' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string firmware_dir(const std::string& data_dir) { return data_dir + "/firmware"; }

StoredImage store_image(const ImageSource& source, const std::string& data_dir) {
  make_dir(data_dir);
  const std::string dir = firmware_dir(data_dir);
  make_dir(dir);

  std::string tmp = dir + "/.upload-" + random_hex(8);
  // A failure to store (a full or failing disk) does not stop the source:
  // the rest is read and dropped, so an HTTP client still sending its
  // upload reads the answer instead of a reset connection.
  std::string sink_failure;
  int sink_errno = 0;
  auto store_failed = [&](const std::string& what) {
    sink_errno = errno;
    sink_failure = what + " " + tmp + ": " + std::strerror(sink_errno);
  };
  Fd out;
  out.fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  const bool created = out.fd >= 0;
  if (!created) store_failed("cannot create");
  // From here on every failure removes the temporary file. `err`: the
  // errno of the failed call.
  auto fail = [&](const std::string& why, int err = 0) {
    if (created) unlink(tmp.c_str());
    throw_disk_error(why, err);
  };

  std::unique_ptr<EVP_MD_CTX, MdFree> md(EVP_MD_CTX_new());
  if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1) fail("SHA-256 unavailable");
  std::int64_t size = 0;
  const ImageSink sink = [&](const char* data, std::size_t n) {
    if (!sink_failure.empty()) return true;  // dropped
    if (EVP_DigestUpdate(md.get(), data, n) != 1) {
      sink_failure = "SHA-256 failed";
      return false;
    }
    for (std::size_t done = 0; done < n;) {
      ssize_t w = write(out.fd, data + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        store_failed("cannot write");
        return true;
      }
      done += static_cast<std::size_t>(w);
    }
    size += static_cast<std::int64_t>(n);
    return true;
  };
  std::string why;
  bool complete = false;
  try {
    complete = source(sink, why);
  } catch (...) {
    if (created) unlink(tmp.c_str());
    throw;
  }
  if (!sink_failure.empty()) fail(sink_failure, sink_errno);
  if (!complete) {
    unlink(tmp.c_str());
    throw ImageSourceError(why.empty() ? "the image broke off" : why);
  }
  if (fsync(out.fd) != 0) {
    const int err = errno;
    fail("cannot sync " + tmp + ": " + std::strerror(err), err);
  }
  if (close(out.fd) != 0) {
    const int err = errno;
    out.fd = -1;
    fail("cannot close " + tmp + ": " + std::strerror(err), err);
  }
  out.fd = -1;

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(md.get(), digest, &len) != 1) fail("SHA-256 failed");
  static const char kHex[] = "0123456789abcdef";
  StoredImage image;
  for (unsigned int i = 0; i < len; ++i) {
    image.sha256 += kHex[digest[i] >> 4];
    image.sha256 += kHex[digest[i] & 15];
  }
  image.size = size;
  image.path = dir + "/" + image.sha256;
  struct stat existing {};
  image.existed = stat(image.path.c_str(), &existing) == 0;
  if (rename(tmp.c_str(), image.path.c_str()) != 0) {
    const int err = errno;
    fail("cannot rename " + tmp + ": " + std::strerror(err), err);
  }
  Fd d;
  d.fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd < 0 || fsync(d.fd) != 0) {
    const int err = errno;
    std::string why = "cannot sync " + dir + ": " + std::strerror(err);
    if (!image.existed) unlink(image.path.c_str());
    throw_disk_error(why, err);
  }
  return image;
}

ImageSource image_file_source(const std::string& path) {
  return [path](const ImageSink& sink, std::string& why) {
    Fd in;
    in.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in.fd < 0) throw ImageSourceError("cannot read " + path + ": " + errno_text());
    struct stat st {};
    if (fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      throw ImageSourceError("cannot read " + path + ": not a regular file");
    }
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = read(in.fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        why = "cannot read " + path + ": " + errno_text();
        return false;
      }
      if (n == 0) return true;
      if (!sink(buf.data(), static_cast<std::size_t>(n))) return true;  // the sink says why
    }
  };
}

StoredImage store_image_file(const std::string& source, const std::string& data_dir) {
  return store_image(image_file_source(source), data_dir);
}

FirmwareRecord add_firmware(FirmwareStore& store, const std::string& version,
                            const ImageSource& source, const std::string& data_dir,
                            std::int64_t now_s) {
  const std::string exists = "firmware version " + version + " already exists";
  if (store.by_version(version)) throw StoreError(StoreError::Kind::conflict, exists);
  const StoredImage image = store_image(source, data_dir);
  FirmwareRecord record{version, image.sha256, image.size, now_s};
  try {
    store.add(record);
  } catch (const StoreError& e) {
    // The image is of no use without its row, unless another version has it.
    if (!image.existed) unlink(image.path.c_str());
    if (e.kind() == StoreError::Kind::conflict)
      throw StoreError(StoreError::Kind::conflict, exists);
    throw;
  } catch (...) {
    if (!image.existed) unlink(image.path.c_str());
    throw;
  }
  return record;
}

}  // namespace rs1
