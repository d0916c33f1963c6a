// SPEC §10 "Console" served by the real broker: index.html at / with the
// hashed asset base, the files under it with their types, year-long caching,
// the strict Content-Security-Policy, gzip; an old base and paths outside
// the files are 404; a console directory that cannot be read leaves / at
// 503 and everything else serving. The console's own behaviour is tested in
// a browser (test/browser).
#include <httplib.h>
#include <stdlib.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>

#include "harness.hpp"
#include "http/console_routes.hpp"

using namespace rs1;
using namespace rs1::it;
namespace fs = std::filesystem;

namespace {

// A console directory of its own, removed at the end.
struct ConsoleDir {
  std::string path;
  ConsoleDir() {
    char tmpl[] = "/tmp/rs1-console-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~ConsoleDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& content) const {
    fs::create_directories(fs::path(path + "/" + name).parent_path());
    std::ofstream(path + "/" + name, std::ios::binary) << content;
  }
};

std::string gunzip(const std::string& in) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  std::string out(1 << 20, '\0');  // more than any file here
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  out.resize(z.total_out);
  inflateEnd(&z);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

httplib::Result get(int port, const std::string& path, httplib::Headers headers = {}) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(5, 0);
  client.set_decompress(false);
  return client.Get(path.c_str(), headers);
}

std::string base_of(const std::string& index) {
  std::smatch m;
  REQUIRE(std::regex_search(index, m, std::regex("/console/[0-9a-f]{12}/")));
  return m.str();
}

}  // namespace

TEST_CASE(
    "console: / and its files with types, caching, CSP and gzip, and 404 for old bases and other paths",
    "[console][http]") {
  ConsoleDir dir;
  const std::string script(20000, 'x');  // compressible
  dir.write("index.html",
            "<!doctype html><link rel=stylesheet href=\"%BASE%style.css\">"
            "<script type=module src=\"%BASE%js/app.js\"></script>");
  dir.write("style.css", "body{margin:0}");
  dir.write("js/app.js", "// " + script + "\n");
  dir.write(".hidden.js", "secret");
  dir.write("notes.md", "not served");
  const int http_port = free_port();
  BrokerRunner broker(
      opts({{"http_listen", "127.0.0.1:" + std::to_string(http_port)}, {"console_dir", dir.path}}));
  CHECK(contains(broker.log(), "rs1: console from " + dir.path));

  auto index = get(http_port, "/");
  REQUIRE(index);
  CHECK(index->status == 200);
  CHECK(index->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(index->get_header_value("Cache-Control") == "no-cache");
  CHECK(index->get_header_value("Content-Security-Policy") == kConsoleCsp);
  CHECK(index->get_header_value("X-Content-Type-Options") == "nosniff");
  CHECK(index->body.find("%BASE%") == std::string::npos);
  const std::string base = base_of(index->body);
  CHECK(contains(index->body, "href=\"" + base + "style.css\""));

  auto css = get(http_port, base + "style.css");
  REQUIRE(css);
  CHECK(css->status == 200);
  CHECK(css->get_header_value("Content-Type") == "text/css; charset=utf-8");
  CHECK(css->get_header_value("Cache-Control") == "public, max-age=31536000, immutable");
  CHECK(css->get_header_value("Content-Security-Policy") == kConsoleCsp);
  CHECK(css->body == "body{margin:0}");

  auto plain = get(http_port, base + "js/app.js");
  REQUIRE(plain);
  CHECK(plain->get_header_value("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(plain->get_header_value("Content-Encoding").empty());
  CHECK(plain->body == "// " + script + "\n");
  auto brotli_only = get(http_port, base + "js/app.js", {{"Accept-Encoding", "br"}});
  REQUIRE(brotli_only);
  CHECK(brotli_only->get_header_value("Content-Encoding").empty());
  CHECK(brotli_only->body == plain->body);
  auto zipped = get(http_port, base + "js/app.js", {{"Accept-Encoding", "gzip, deflate, br"}});
  REQUIRE(zipped);
  CHECK(zipped->get_header_value("Content-Encoding") == "gzip");
  CHECK(zipped->get_header_value_count("Content-Encoding") == 1);  // compressed once
  CHECK(zipped->get_header_value("Vary") == "Accept-Encoding");
  CHECK(zipped->body.size() < 1000);
  CHECK(gunzip(zipped->body) == plain->body);

  for (const std::string& path :
       {base + ".hidden.js", base + "notes.md", base + "index.html", base + "../style.css",
        std::string("/console/000000000000/style.css"), base + "js/%2e%2e/style.css",
        std::string("/style.css")}) {
    auto r = get(http_port, path);
    REQUIRE(r);
    INFO(path);
    CHECK(r->status == 404);
    CHECK(r->get_header_value("Content-Type") == "application/problem+json");
  }
  auto post = httplib::Client("127.0.0.1", http_port).Post("/", "x", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 405);
}

TEST_CASE("console: a changed file is a new base once the broker restarts", "[console][http]") {
  ConsoleDir dir;
  dir.write("index.html", "<script type=module src=\"%BASE%app.js\"></script>");
  dir.write("app.js", "export const v = 1;");
  const int http_port = free_port();
  BrokerRunner broker(
      opts({{"http_listen", "127.0.0.1:" + std::to_string(http_port)}, {"console_dir", dir.path}}));
  auto first = get(http_port, "/");
  REQUIRE(first);
  const std::string old_base = base_of(first->body);
  broker.stop();
  dir.write("app.js", "export const v = 2;");
  broker.start();
  auto second = get(http_port, "/");
  REQUIRE(second);
  const std::string new_base = base_of(second->body);
  CHECK(new_base != old_base);
  auto now = get(http_port, new_base + "app.js");
  REQUIRE(now);
  CHECK(now->body == "export const v = 2;");
  auto old = get(http_port, old_base + "app.js");
  REQUIRE(old);
  CHECK(old->status == 404);
}

TEST_CASE("console: without its directory / is 503 with the reason, the rest serves on",
          "[console][http]") {
  const int http_port = free_port();
  BrokerRunner broker(opts({{"http_listen", "127.0.0.1:" + std::to_string(http_port)},
                            {"console_dir", "/nonexistent/rs1-console"}}));
  CHECK(contains(broker.log(), "console: no directory /nonexistent/rs1-console; / answers 503"));
  auto root = get(http_port, "/");
  REQUIRE(root);
  CHECK(root->status == 503);
  CHECK(root->get_header_value("Content-Type") == "application/problem+json");
  CHECK(contains(root->body, "the console is not available: console: no directory"));
  auto health = get(http_port, "/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
}

TEST_CASE("console: the repository's console/ is served whole: every file index.html names exists",
          "[console][http]") {
  const int http_port = free_port();
  BrokerRunner broker(opts({{"http_listen", "127.0.0.1:" + std::to_string(http_port)},
                            {"console_dir", std::string(RS1_SOURCE_DIR) + "/console"}}));
  auto index = get(http_port, "/");
  REQUIRE(index);
  REQUIRE(index->status == 200);
  const std::string base = base_of(index->body);
  std::regex ref("(?:href|src)=\"(/console/[0-9a-f]{12}/[^\"]+)\"");
  int refs = 0;
  for (std::sregex_iterator it(index->body.begin(), index->body.end(), ref), end; it != end; ++it) {
    const std::string path = (*it)[1];
    INFO(path);
    CHECK(path.rfind(base, 0) == 0);
    auto r = get(http_port, path);
    REQUIRE(r);
    CHECK(r->status == 200);
    ++refs;
  }
  CHECK(refs >= 2);  // the style sheet and the app module at least
  // No inline script: every <script> has a src.
  CHECK_FALSE(std::regex_search(index->body, std::regex("<script(?![^>]*\\bsrc=)[^>]*>")));
}
