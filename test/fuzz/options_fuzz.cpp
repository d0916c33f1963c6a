// The plugin option registry (core/options): mosquitto.conf's
// plugin_opt_ lines ("NAME VALUE" a line here) parsed against one option
// of every kind. Only OptionError may come out, naming the option, and a
// value taken is within its declared range or form.
#include <string>
#include <utility>
#include <vector>

#include "core/options.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using rs1::fuzz::check;
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  int port = 1883;
  std::size_t bytes = 262144;
  bool flag = false;
  std::string text = "unset";
  std::optional<rs1::HostPort> listen;
  std::string url = "unset";
  rs1::OptionRegistry registry;
  registry.integer("port", port, 1, 65535);
  registry.integer("max_payload_bytes", bytes, 16, 16 * 1024 * 1024);
  registry.boolean("enabled", flag);
  registry.text("data_dir", text);
  registry.host_port("http_listen", listen);
  registry.url("public_url", url);

  rs1::fuzz::Input in(data, size);
  std::vector<std::pair<std::string, std::string>> raw;
  while (!in.empty()) {
    const std::string_view line = in.line();
    const std::size_t space = line.find(' ');
    raw.emplace_back(std::string(line.substr(0, space)),
                     space == std::string_view::npos ? "" : std::string(line.substr(space + 1)));
  }
  try {
    registry.parse(raw);
  } catch (const rs1::OptionError& e) {
    check(std::string_view(e.what()).rfind("plugin_opt_", 0) == 0,
          "an option error names the option", whole, e.what(), "plugin_opt_…");
    return 0;
  }
  check(port >= 1 && port <= 65535, "integer within its range", whole, std::to_string(port),
        "1..65535");
  check(bytes >= 16 && bytes <= 16 * 1024 * 1024, "size within its range", whole,
        std::to_string(bytes), "16..16777216");
  check(!text.empty(), "text is non-empty", whole, "\"\"", "non-empty");
  if (listen) {
    check(listen->port >= 1 && listen->port <= 65535 && !listen->host.empty(), "HOST:PORT", whole,
          listen->host + ":" + std::to_string(listen->port), "a host and a port 1..65535");
  }
  if (url != "unset") {
    const bool form = (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) &&
                      url.back() != '/' && url.find_first_of(" \t\r\n") == std::string::npos &&
                      url[url.find("://") + 3] != '/';
    check(form, "an http(s) URL with a host, no trailing /", whole, url, "http(s)://host…");
  }
  return 0;
}
