// Plugin options (SPEC §3): defaults, derived paths, and one clear error
// naming the option for every bad value.
#include "options/plugin_options.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "unit_support.hpp"

using namespace rs1;

namespace {

using Raw = std::vector<std::pair<std::string, std::string>>;

// The message parse_options throws, or "" when it accepts.
std::string error_of(const Raw& raw) {
  try {
    parse_options(raw);
  } catch (const OptionError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("options: defaults with only db_path", "[options]") {
  Options o = parse_options({{"db_path", "/srv/rs1/rs1.db"}});
  CHECK(o.storage.db_path == "/srv/rs1/rs1.db");
  CHECK(o.storage.data_dir == "/srv/rs1");
  CHECK(o.ota.signing_key_file == "/srv/rs1/signing.key");
  CHECK(o.ota.ota_base_url == "http://127.0.0.1:8080");
  CHECK_FALSE(o.http.listen);
  CHECK(o.ota.url_ttl_s == 900);
  CHECK_FALSE(o.devices.clock_skew_ahead);
  CHECK(o.devices.rate_limit_per_min == 600);
  CHECK(o.devices.max_payload_bytes == 65536);
  CHECK(o.devices.auth_fail_limit == 5);
  CHECK(o.devices.auth_ban_s == 0);
  CHECK(o.ingest.flush_ms == 100);
  CHECK(o.ingest.queue_max == 200000);
  CHECK(o.ingest.queue_max_bytes == 256u * 1024 * 1024);
  CHECK(o.ops.hot_days == 30);
  CHECK(o.ops.archive_retention_days == 365);
  CHECK(o.ops.backup_retention_days == 30);
  CHECK(o.ops.backup_hour_utc == 3);
}

TEST_CASE("options: data_dir defaults to the directory of db_path", "[options]") {
  auto [db_path, data_dir, key_file] = GENERATE(table<std::string, std::string, std::string>({
      {"/srv/rs1/rs1.db", "/srv/rs1", "/srv/rs1/signing.key"},
      {"./var/rs1.db", "./var", "./var/signing.key"},
      {"var/rs1.db", "var", "var/signing.key"},
      {"rs1.db", ".", "./signing.key"},
      {"/rs1.db", "/", "/signing.key"},
  }));
  CAPTURE(db_path);
  Options o = parse_options({{"db_path", db_path}});
  CHECK(o.storage.data_dir == data_dir);
  // "/" + "/signing.key" gives "//signing.key": the same file.
  CHECK(std::filesystem::path(o.ota.signing_key_file).lexically_normal() ==
        std::filesystem::path(key_file).lexically_normal());
}

TEST_CASE("options: an explicit data_dir moves the signing key but not an explicit key file",
          "[options]") {
  Options o = parse_options({{"db_path", "/srv/rs1/rs1.db"}, {"data_dir", "/data"}});
  CHECK(o.storage.data_dir == "/data");
  CHECK(o.ota.signing_key_file == "/data/signing.key");

  Options k = parse_options({{"signing_key_file", "/etc/rs1/keys"},
                             {"db_path", "/srv/rs1/rs1.db"},
                             {"data_dir", "/data"}});
  CHECK(k.storage.data_dir == "/data");
  CHECK(k.ota.signing_key_file == "/etc/rs1/keys");
}

TEST_CASE("options: every option set to a valid value", "[options]") {
  Options o = parse_options({
      {"db_path", "/srv/rs1/rs1.db"},
      {"ota_base_url", "https://ota.example.com/fw/"},
      {"http_listen", "0.0.0.0:8443"},
      {"url_ttl_s", "60"},
      {"clock_skew_ahead", "true"},
      {"rate_limit_per_min", "0"},
      {"max_payload_bytes", "1024"},
      {"auth_fail_limit", "10"},
      {"auth_ban_s", "300"},
      {"ingest_flush_ms", "250"},
      {"ingest_queue_max", "1000"},
      {"ingest_queue_max_bytes", "68719476736"},
      {"hot_days", "7"},
      {"archive_retention_days", "90"},
      {"backup_retention_days", "14"},
      {"backup_hour_utc", "0"},
  });
  CHECK(o.ota.ota_base_url == "https://ota.example.com/fw");  // paths are appended with '/'
  REQUIRE(o.http.listen);
  CHECK(o.http.listen->host == "0.0.0.0");
  CHECK(o.http.listen->port == 8443);
  CHECK(o.ota.url_ttl_s == 60);
  CHECK(o.devices.clock_skew_ahead);
  CHECK(o.devices.rate_limit_per_min == 0);
  CHECK(o.devices.max_payload_bytes == 1024);
  CHECK(o.devices.auth_fail_limit == 10);
  CHECK(o.devices.auth_ban_s == 300);
  CHECK(o.ingest.flush_ms == 250);
  CHECK(o.ingest.queue_max == 1000);
  CHECK(o.ingest.queue_max_bytes == std::size_t{64} << 30);
  CHECK(o.ops.hot_days == 7);
  CHECK(o.ops.archive_retention_days == 90);
  CHECK(o.ops.backup_retention_days == 14);
  CHECK(o.ops.backup_hour_utc == 0);
}

TEST_CASE("options: ingest_queue_max_bytes bounds, 1 MiB to 64 GiB", "[options]") {
  auto [value, expected] = GENERATE(table<std::string, std::size_t>({
      {"1048576", std::size_t{1} << 20},
      {"268435456", std::size_t{256} << 20},
      {"68719476736", std::size_t{64} << 30},
  }));
  CAPTURE(value);
  CHECK(parse_options({{"db_path", "x.db"}, {"ingest_queue_max_bytes", value}})
            .ingest.queue_max_bytes == expected);
}

TEST_CASE("options: http_listen forms", "[options]") {
  auto [value, host, port] = GENERATE(table<std::string, std::string, int>({
      {"127.0.0.1:8080", "127.0.0.1", 8080},
      {"localhost:1", "localhost", 1},
      {"[::1]:9000", "::1", 9000},
      {"host.example:65535", "host.example", 65535},
  }));
  CAPTURE(value);
  Options o = parse_options({{"db_path", "x.db"}, {"http_listen", value}});
  REQUIRE(o.http.listen);
  CHECK(o.http.listen->host == host);
  CHECK(o.http.listen->port == port);
}

TEST_CASE("options: booleans", "[options]") {
  auto [value, expected] = GENERATE(table<std::string, bool>({
      {"true", true},
      {"1", true},
      {"yes", true},
      {"on", true},
      {"false", false},
      {"0", false},
      {"no", false},
      {"off", false},
  }));
  CAPTURE(value);
  CHECK(parse_options({{"db_path", "x.db"}, {"clock_skew_ahead", value}}).devices.clock_skew_ahead ==
        expected);
}

TEST_CASE("options: bad values stop the broker with a message naming the option", "[options]") {
  auto [name, value, why] = GENERATE(table<std::string, std::string, std::string>({
      {"db_path", "", "must not be empty"},
      {"data_dir", "", "must not be empty"},
      {"signing_key_file", "", "must not be empty"},
      {"url_ttl_s", "", "expected an integer"},
      {"url_ttl_s", "abc", "expected an integer"},
      {"url_ttl_s", "12x", "expected an integer"},
      {"url_ttl_s", "1.5", "expected an integer"},
      {"url_ttl_s", "1e3", "expected an integer"},
      {"url_ttl_s", "0x10", "expected an integer"},
      {"url_ttl_s", "99999999999999999999", "expected an integer"},
      {"url_ttl_s", "0", "between"},
      {"url_ttl_s", "-5", "between"},
      {"url_ttl_s", "604801", "between"},
      {"clock_skew_ahead", "maybe", "expected true or false"},
      {"clock_skew_ahead", "", "expected true or false"},
      {"clock_skew_ahead", "2", "expected true or false"},
      {"rate_limit_per_min", "-1", "between"},
      {"rate_limit_per_min", "2147483648", "between"},
      {"rate_limit_per_min", "ten", "expected an integer"},
      {"max_payload_bytes", "0", "between"},
      {"max_payload_bytes", "1", "between"},
      {"max_payload_bytes", "268435457", "between"},
      {"max_payload_bytes", "64k", "expected an integer"},
      {"auth_fail_limit", "0", "between"},
      {"auth_ban_s", "-1", "between"},
      {"auth_ban_s", "2592001", "between"},
      {"ingest_flush_ms", "0", "between"},
      {"ingest_flush_ms", "60001", "between"},
      {"ingest_queue_max", "0", "between"},
      {"ingest_queue_max", "100000001", "between"},
      {"ingest_queue_max_bytes", "0", "between"},
      {"ingest_queue_max_bytes", "1048575", "between"},
      {"ingest_queue_max_bytes", "68719476737", "between"},
      {"ingest_queue_max_bytes", "-1", "between"},
      {"ingest_queue_max_bytes", "256M", "expected an integer"},
      {"ingest_queue_max_bytes", "", "expected an integer"},
      {"hot_days", "0", "between"},
      {"hot_days", "36501", "between"},
      {"archive_retention_days", "0", "between"},
      {"backup_retention_days", "0", "between"},
      {"backup_hour_utc", "24", "between"},
      {"backup_hour_utc", "-1", "between"},
      {"http_listen", "8080", "expected HOST:PORT"},
      {"http_listen", "127.0.0.1", "expected HOST:PORT"},
      {"http_listen", ":8080", "expected HOST:PORT"},
      {"http_listen", "127.0.0.1:", "PORT between 1 and 65535"},
      {"http_listen", "127.0.0.1:http", "PORT between 1 and 65535"},
      {"http_listen", "127.0.0.1:0", "PORT between 1 and 65535"},
      {"http_listen", "127.0.0.1:65536", "PORT between 1 and 65535"},
      {"http_listen", "127.0.0.1:80x", "PORT between 1 and 65535"},
      {"ota_base_url", "ftp://example.com", "expected an http:// or https:// URL"},
      {"ota_base_url", "example.com", "expected an http:// or https:// URL"},
      {"ota_base_url", "", "expected an http:// or https:// URL"},
      {"ota_base_url", "http://exa mple.com", "white space"},
      {"ota_base_url", "http://", "no host"},
      {"ota_base_url", "https:///", "no host"},
      {"ota_base_url", "http:///firmware", "no host"},
  }));
  CAPTURE(name, value);
  Raw raw = {{"db_path", "/srv/rs1/rs1.db"}};
  if (name == "db_path") raw.clear();
  raw.emplace_back(name, value);
  const std::string error = error_of(raw);
  CHECK_THAT(error, Catch::Contains("plugin_opt_" + name) && Catch::Contains(why));
  if (!value.empty()) CHECK_THAT(error, Catch::Contains("'" + value + "'"));
}

TEST_CASE("options: unknown, duplicate and missing options", "[options]") {
  CHECK(error_of({{"db_path", "x.db"}, {"db_paht", "y.db"}}) ==
        "plugin_opt_db_paht: unknown option");
  CHECK(error_of({{"db_path", "x.db"}, {"hot_days", "3"}, {"hot_days", "3"}}) ==
        "plugin_opt_hot_days: given more than once");
  CHECK(error_of({{"db_path", "x.db"}, {"db_path", "x.db"}}) ==
        "plugin_opt_db_path: given more than once");
  CHECK(error_of({}) == "plugin_opt_db_path is required");
  CHECK(error_of({{"hot_days", "3"}}) == "plugin_opt_db_path is required");
  CHECK(error_of({{"DB_PATH", "x.db"}}) == "plugin_opt_DB_PATH: unknown option");
}

TEST_CASE("options: each module declares its own, a name once", "[options]") {
  OptionRegistry r;
  int flush = 0;
  IngestOptions ingest;
  declare_options(r, ingest);
  CHECK(r.declared("ingest_flush_ms"));
  CHECK_FALSE(r.declared("http_listen"));
  CHECK_THROWS_AS(r.integer("ingest_flush_ms", flush, 1, 2), std::logic_error);
  r.parse({{"ingest_flush_ms", "250"}});
  CHECK(ingest.flush_ms == 250);
  CHECK_THROWS_WITH(r.parse({{"http_listen", "127.0.0.1:8080"}}),
                    "plugin_opt_http_listen: unknown option");
}

TEST_CASE("options: every plugin_opt line of broker-config's files parses, commented ones too",
          "[options]") {
  const std::string file = GENERATE(as<std::string>{}, "dev.conf", "production.conf");
  CAPTURE(file);
  std::ifstream in(std::string(RS1_SOURCE_DIR) + "/broker-config/" + file);
  REQUIRE(in);
  Raw raw;
  std::string line;
  while (std::getline(in, line)) {
    std::string text = line.rfind("#plugin_opt_", 0) == 0 ? line.substr(1) : line;
    if (text.rfind("plugin_opt_", 0) != 0) continue;
    const std::size_t space = text.find(' ');
    REQUIRE(space != std::string::npos);
    raw.emplace_back(text.substr(11, space - 11), text.substr(space + 1));
  }
  CHECK(raw.size() >= 2);
  CHECK(error_of(raw) == "");
}
