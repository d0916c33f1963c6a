#include "http/console_routes.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "http/compression.hpp"
#include "http/problem.hpp"
#include "http/routes.hpp"

namespace rs1 {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxFiles = 1000;
constexpr std::size_t kMaxBytes = 32u * 1024 * 1024;
constexpr char kBaseMarker[] = "%BASE%";

const char* content_type_of(const fs::path& path) {
  static const std::map<std::string, const char*> types = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  };
  auto it = types.find(path.extension().string());
  return it == types.end() ? nullptr : it->second;
}

std::string read_whole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  if (!in.good() && !in.eof()) throw std::runtime_error("console: cannot read " + path.string());
  return out.str();
}

std::string short_hash(const std::vector<std::pair<std::string, const std::string*>>& files) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (const auto& [name, body] : files) {
    EVP_DigestUpdate(ctx, name.data(), name.size() + 1);  // with its '\0'
    const std::string size = std::to_string(body->size()) + ":";
    EVP_DigestUpdate(ctx, size.data(), size.size());
    EVP_DigestUpdate(ctx, body->data(), body->size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 6; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

void security_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy", kConsoleCsp);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
}

void answer(const httplib::Request& req, httplib::Response& res, const ConsoleAsset& asset,
            const char* cache_control) {
  security_headers(res);
  res.set_header("Cache-Control", cache_control);
  res.set_header("Vary", "Accept-Encoding");
  if (!asset.gzipped.empty() && accepts_gzip(req)) {
    res.set_header("Content-Encoding", "gzip");
    res.set_content(asset.gzipped, asset.content_type.c_str());
  } else {
    res.set_content(asset.body, asset.content_type.c_str());
  }
}

}  // namespace

ConsoleFiles load_console(const std::string& dir) {
  ConsoleFiles files;
  files.dir = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error("console: no directory " + dir);
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) throw std::runtime_error("console: cannot read " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw std::runtime_error("console: cannot read " + dir + ": " + ec.message());
    const fs::path& path = it->path();
    if (path.filename().string().front() == '.') {  // editor and VCS droppings
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    const char* type = content_type_of(path);
    if (!type) continue;
    if (files.assets.size() == kMaxFiles) {
      throw std::runtime_error("console: more than " + std::to_string(kMaxFiles) + " files in " +
                               dir);
    }
    ConsoleAsset asset;
    asset.content_type = type;
    asset.body = read_whole(path);
    files.bytes += asset.body.size();
    if (files.bytes > kMaxBytes) {
      throw std::runtime_error("console: more than 32 MiB in " + dir);
    }
    files.assets.emplace(fs::relative(path, dir).generic_string(), std::move(asset));
  }
  auto index = files.assets.find("index.html");
  if (index == files.assets.end()) throw std::runtime_error("console: no index.html in " + dir);

  std::vector<std::pair<std::string, const std::string*>> hashed;
  for (const auto& [name, asset] : files.assets) hashed.emplace_back(name, &asset.body);
  files.base = "/console/" + short_hash(hashed) + "/";
  files.index = index->second.body;
  for (std::size_t at = files.index.find(kBaseMarker); at != std::string::npos;
       at = files.index.find(kBaseMarker, at + files.base.size())) {
    files.index.replace(at, sizeof kBaseMarker - 1, files.base);
  }
  for (auto& [name, asset] : files.assets) asset.gzipped = gzip_of(asset.body, 9);
  return files;
}

void mount_console_routes(Routes& routes, std::shared_ptr<const ConsoleFiles> files,
                          std::string unavailable_reason) {
  if (!files) {
    routes.get("/", [reason = std::move(unavailable_reason)](const httplib::Request&,
                                                             httplib::Response& res) {
      write_problem(res, 503, "the console is not available: " + reason);
    });
    return;
  }
  auto index = std::make_shared<ConsoleAsset>();
  index->content_type = "text/html; charset=utf-8";
  index->body = files->index;
  index->gzipped = gzip_of(index->body, 9);
  routes.get("/", [index](const httplib::Request& req, httplib::Response& res) {
    answer(req, res, *index, "no-cache");
  });
  routes.get("/console/([0-9a-f]{12})/(.+)", [files](const httplib::Request& req,
                                                     httplib::Response& res) {
    // An old page asking for an older console's files gets 404, never the
    // new files under the old name (they would be cached as the old ones).
    if ("/console/" + std::string(req.matches[1]) + "/" != files->base) {
      write_problem(res, 404, "no such console file (the console has changed: reload the page)");
      return;
    }
    auto it = files->assets.find(req.matches[2]);
    if (it == files->assets.end() || it->first == "index.html") {
      write_problem(res, 404, "no such console file");
      return;
    }
    answer(req, res, it->second, "public, max-age=31536000, immutable");
  });
}

}  // namespace rs1
