// The web console (SPEC §10 "Console"): the static files of console/ (no
// build step), read into memory once when the listener starts and served
// from there, so a request never touches the file system and no path from a
// request is ever opened.
//
// URLs: `GET /` is index.html, in which the text %BASE% becomes the asset
// base `/console/<hash>/`; every other file is at `<base><path>`. The hash is
// of every file's name and content, so an asset is cached for a year
// (immutable) and a new console is a new base; index.html is revalidated
// each time. Every answer carries a strict Content-Security-Policy (no inline
// script or style, connect-src 'self'); a client that accepts gzip gets the
// copy compressed at load.
#pragma once

#include <map>
#include <memory>
#include <string>

namespace rs1 {

class Routes;

struct ConsoleAsset {
  std::string content_type;
  std::string body;
  std::string gzipped;  // empty when compressing does not pay
};

struct ConsoleFiles {
  std::string dir;
  std::string base;                            // "/console/<12 hex>/"
  std::string index;                           // index.html with %BASE% replaced
  std::map<std::string, ConsoleAsset> assets;  // by path under dir ("js/app.js")
  std::size_t bytes = 0;                       // of every file, uncompressed
};

// The console's Content-Security-Policy.
inline constexpr char kConsoleCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

// Reads `dir` (files of known types only; hidden ones and others are left
// out). Throws std::runtime_error naming the directory or file when it
// cannot be read, has no index.html, or holds more than the caps (1,000
// files, 32 MiB).
ConsoleFiles load_console(const std::string& dir);

// GET / and GET /console/<hash>/<path>. Without files (the directory could
// not be read) `/` answers 503 with the reason, and the rest of the
// listener works as before.
void mount_console_routes(Routes& routes, std::shared_ptr<const ConsoleFiles> files,
                          std::string unavailable_reason = {});

}  // namespace rs1
