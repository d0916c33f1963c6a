#include "http/firmware_routes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <memory>

#include "features/ota/firmware.hpp"
#include "features/ota/range.hpp"
#include "http/http_listener.hpp"
#include "http/problem.hpp"
#include "http/routes.hpp"

namespace rs1 {
namespace {

constexpr std::size_t kPiece = 64 * 1024;

// The open image and one buffer, for as long as the answer is being written.
struct OpenImage {
  int fd = -1;
  std::vector<char> buffer;
  ~OpenImage() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

void mount_firmware_routes(Routes& routes, FirmwareRouteConfig config) {
  if (!config.now_s) config.now_s = [] { return static_cast<std::int64_t>(std::time(nullptr)); };
  auto cfg = std::make_shared<const FirmwareRouteConfig>(std::move(config));
  routes.get("/firmware/([^/]*)", [cfg](const httplib::Request& req, httplib::Response& res) {
    const std::string sha256 = req.matches[1];
    const UrlVerdict verdict = verify_firmware_url(
        *cfg->keys->get(), sha256, req.get_param_value("device"), req.get_param_value("expires"),
        req.get_param_value("kid"), req.get_param_value("sig"), cfg->now_s());
    if (verdict != UrlVerdict::ok) {
      write_problem(res, 403, std::string("firmware URL refused: ") + url_verdict_name(verdict));
      return;
    }
    if (!is_sha256_hex(sha256)) {
      write_problem(res, 404, "no such firmware image");
      return;
    }
    auto image = std::make_shared<OpenImage>();
    image->fd = open((firmware_dir(cfg->data_dir) + "/" + sha256).c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (image->fd < 0 || fstat(image->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      write_problem(res, 404, "no such firmware image");
      return;
    }
    const std::int64_t size = st.st_size;
    // The listener renamed Range, so httplib neither refused a malformed
    // one nor applies it: this route answers it (SPEC §7's 206 and 416).
    const ByteRange range = parse_range(req.get_header_value(kRangeHeader), size);
    res.set_header("ETag", "\"" + sha256 + "\"");
    res.set_header("Accept-Ranges", "bytes");
    if (range.kind == ByteRange::Kind::unsatisfiable) {
      res.set_header("Content-Range", "bytes */" + std::to_string(size));
      write_problem(res, 416,
                    "range not satisfiable for an image of " + std::to_string(size) + " bytes");
      return;
    }
    std::int64_t first = 0, length = size;
    if (range.kind == ByteRange::Kind::partial) {
      first = range.first;
      length = range.last - range.first + 1;
      res.status = 206;
      res.set_header("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                          std::to_string(range.last) + "/" + std::to_string(size));
    } else {
      res.status = 200;
    }
    image->buffer.resize(kPiece);
    res.set_content_provider(
        static_cast<std::size_t>(length), "application/octet-stream",
        [image, first](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          const std::size_t want = length < kPiece ? length : kPiece;
          ssize_t n;
          do {
            n = pread(image->fd, image->buffer.data(), want, static_cast<off_t>(first + offset));
          } while (n < 0 && errno == EINTR);
          if (n <= 0) return false;  // the file shrank or failed: cut the answer short
          return sink.write(image->buffer.data(), static_cast<std::size_t>(n));
        },
        [image](bool) {});
  });
}

}  // namespace rs1
