// The access decisions of features/devices/access: logins, ACL checks with
// and without a live session (last wills, offline persistent sessions), and
// what a directory update means for live sessions.
#include "features/devices/access.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <tuple>

#include "core/identity.hpp"
#include "unit_support.hpp"

using namespace rs1;

namespace {

constexpr std::int64_t kNow = 1764590400;  // 2025-12-01T12:00:00Z

struct World {
  Directory directory;
  Sessions sessions;
  std::string hash_a = sha256_hex(std::string(64, 'a'));
  AccountPassword svc = hash_account_password("svc-password");
  World() {
    directory.replace({DeviceCredentials{1, "dev-a", hash_a, true},
                       DeviceCredentials{2, "dev-off", hash_a, false}},
                      {AccountCredentials{"backend", Role::service, svc.salt_hex, svc.hash_hex}});
  }
  std::string password(const std::string& id) const {
    return password_for_hour(hash_a, id, hour_of(kNow));
  }
};

int conn_a, conn_b, conn_c;

ClientView view(const void* handle, const char* username, const char* client_id) {
  ClientView v;
  v.handle = handle;
  if (username) v.username = username;
  if (client_id) v.client_id = client_id;
  return v;
}

const PayloadLimits kLimits{65536};

}  // namespace

TEST_CASE("access: device and account logins", "[access]") {
  World w;
  auto ok = decide_login(w.directory, view(&conn_a, "dev-a", "dev-a"), w.password("dev-a").c_str(),
                         kNow, false);
  REQUIRE(ok);
  CHECK(ok->role == Role::device);
  CHECK(ok->device_ref == 1);
  CHECK(ok->client_id == "dev-a");
  // A client id other than the username, a wrong password, a revoked or
  // unknown device: refused.
  CHECK_FALSE(decide_login(w.directory, view(&conn_a, "dev-a", "other"),
                           w.password("dev-a").c_str(), kNow, false));
  CHECK_FALSE(decide_login(w.directory, view(&conn_a, "dev-a", "dev-a"), "00", kNow, false));
  CHECK_FALSE(decide_login(w.directory, view(&conn_a, "dev-off", "dev-off"),
                           w.password("dev-off").c_str(), kNow, false));
  CHECK_FALSE(decide_login(w.directory, view(&conn_a, "dev-new", "dev-new"),
                           w.password("dev-new").c_str(), kNow, false));
  CHECK_FALSE(decide_login(w.directory, view(&conn_a, nullptr, "dev-a"), "x", kNow, false));
  CHECK_FALSE(decide_login(w.directory, view(&conn_a, "dev/a", "dev/a"), "x", kNow, false));

  auto svc = decide_login(w.directory, view(&conn_b, "backend", "worker-7"), "svc-password", kNow,
                          false);
  REQUIRE(svc);
  CHECK(svc->role == Role::service);
  CHECK(svc->client_id == "worker-7");
  CHECK_FALSE(decide_login(w.directory, view(&conn_b, "backend", "w"), "wrong", kNow, false));
}

TEST_CASE("access: a live session is judged by its role", "[access]") {
  World w;
  auto s = decide_login(w.directory, view(&conn_a, "dev-a", "dev-a"), w.password("dev-a").c_str(),
                        kNow, false);
  w.sessions.login(&conn_a, *s);
  auto v = view(&conn_a, "dev-a", "dev-a");
  CHECK(decide_access(w.sessions, w.directory, v, Access::write, "opticworks/dev-a/state", "{}",
                      false, kLimits));
  CHECK_FALSE(decide_access(w.sessions, w.directory, v, Access::write, "opticworks/dev-b/state",
                            "{}", false, kLimits));
  CHECK(decide_access(w.sessions, w.directory, v, Access::subscribe,
                      "opticworks/dev-a/diag/request", {}, false, kLimits));
  CHECK(decide_access(w.sessions, w.directory, v, Access::read, "opticworks/dev-a/diag/request",
                      {}, false, kLimits));
  CHECK_FALSE(decide_access(w.sessions, w.directory, v, Access::read,
                            "opticworks/dev-b/diag/request", {}, false, kLimits));
}

TEST_CASE("access: an offline persistent session still receives its own downlinks", "[access]") {
  // No live session for the handle: Mosquitto delivers (or re-checks at
  // reconnect) what was queued for a clean-session-off device.
  World w;
  auto offline = view(&conn_c, "dev-a", "dev-a");
  CHECK(decide_access(w.sessions, w.directory, offline, Access::read,
                      "opticworks/dev-a/diag/request", {}, false, kLimits));
  CHECK(decide_access(w.sessions, w.directory, offline, Access::read,
                      "opticworks/dev-a/ota/trigger", {}, false, kLimits));
  CHECK_FALSE(decide_access(w.sessions, w.directory, offline, Access::read,
                            "opticworks/dev-b/diag/request", {}, false, kLimits));
  CHECK_FALSE(decide_access(w.sessions, w.directory, offline, Access::read,
                            "opticworks/dev-a/state", {}, false, kLimits));
  // Revoked, unknown, or a client id that is not the device's: nothing.
  CHECK_FALSE(decide_access(w.sessions, w.directory, view(&conn_c, "dev-off", "dev-off"),
                            Access::read, "opticworks/dev-off/diag/request", {}, false, kLimits));
  CHECK_FALSE(decide_access(w.sessions, w.directory, view(&conn_c, "dev-a", "x"), Access::read,
                            "opticworks/dev-a/diag/request", {}, false, kLimits));
  CHECK_FALSE(decide_access(w.sessions, w.directory, view(&conn_c, "ghost", "ghost"), Access::read,
                            "opticworks/ghost/diag/request", {}, false, kLimits));
  // A service's offline session receives what it subscribed to.
  CHECK(decide_access(w.sessions, w.directory, view(&conn_c, "backend", "w1"), Access::read,
                      "opticworks/dev-a/state", {}, false, kLimits));
  // Subscribing needs a live session.
  CHECK_FALSE(decide_access(w.sessions, w.directory, offline, Access::subscribe,
                            "opticworks/dev-a/diag/request", {}, false, kLimits));
}

TEST_CASE("access: a device's last will obeys the payload rules and is never retained",
          "[access]") {
  World w;
  auto gone = view(&conn_c, "dev-a", "dev-a");  // DISCONNECT already removed the session
  CHECK(decide_access(w.sessions, w.directory, gone, Access::write, "opticworks/dev-a/state",
                      R"({"online":false})", false, kLimits));
  CHECK_FALSE(decide_access(w.sessions, w.directory, gone, Access::write, "opticworks/dev-a/state",
                            std::string(60000, 'x'), false, kLimits));  // not JSON
  CHECK_FALSE(decide_access(w.sessions, w.directory, gone, Access::write, "opticworks/dev-a/state",
                            R"({"online":false})", true, kLimits));  // retained
  CHECK_FALSE(decide_access(w.sessions, w.directory, gone, Access::write, "opticworks/dev-a/state",
                            "{" + std::string(70000, ' ') + "}", false, kLimits));  // too large
  CHECK_FALSE(decide_access(w.sessions, w.directory, gone, Access::write,
                            "opticworks/dev-a/telemetry/x", "{}", false, kLimits));
  // A service's will goes wherever it may publish.
  CHECK(decide_access(w.sessions, w.directory, view(&conn_c, "backend", "w1"), Access::write,
                      "opticworks/dev-a/diag/request", "anything", true, kLimits));
}

TEST_CASE("access: directory updates kick what they invalidate", "[access]") {
  World w;
  w.sessions.login(&conn_a, *decide_login(w.directory, view(&conn_a, "dev-a", "dev-a"),
                                          w.password("dev-a").c_str(), kNow, false));
  w.sessions.login(&conn_b, *decide_login(w.directory, view(&conn_b, "backend", "w1"),
                                          "svc-password", kNow, false));

  SECTION("an unchanged device stays") {
    DirectoryUpdate u;
    u.devices.push_back(DeviceCredentials{1, "dev-a", w.hash_a, true});
    auto fx = apply_update(w.directory, w.sessions, u);
    CHECK(fx.kick_clients.empty());
  }
  SECTION("revoked") {
    DirectoryUpdate u;
    u.devices.push_back(DeviceCredentials{1, "dev-a", w.hash_a, false});
    CHECK(apply_update(w.directory, w.sessions, u).kick_clients ==
          std::vector<std::string>{"dev-a"});
  }
  SECTION("a new secret") {
    DirectoryUpdate u;
    u.devices.push_back(DeviceCredentials{1, "dev-a", sha256_hex("other"), true});
    CHECK(apply_update(w.directory, w.sessions, u).kick_clients ==
          std::vector<std::string>{"dev-a"});
  }
  SECTION("deleted and added again within one poll: a new key") {
    DirectoryUpdate u;
    u.devices.push_back(DeviceCredentials{7, "dev-a", w.hash_a, true});
    CHECK(apply_update(w.directory, w.sessions, u).kick_clients ==
          std::vector<std::string>{"dev-a"});
    CHECK(w.directory.device("dev-a")->ref == 7);
  }
  SECTION("deleted") {
    DirectoryUpdate u;
    u.removed_devices.push_back("dev-a");
    u.removed_accounts.push_back("backend");
    auto fx = apply_update(w.directory, w.sessions, u);
    CHECK(fx.kick_clients == std::vector<std::string>{"dev-a"});
    CHECK(fx.kick_users == std::vector<std::string>{"backend"});
    CHECK(fx.removed_devices == std::vector<std::string>{"dev-a"});
    CHECK_FALSE(w.directory.device("dev-a"));
  }
  SECTION("a complete listing removes what it does not list") {
    DirectoryUpdate u;
    u.complete_devices = true;
    u.devices.push_back(DeviceCredentials{2, "dev-off", w.hash_a, false});
    auto fx = apply_update(w.directory, w.sessions, u);
    CHECK(fx.removed_devices == std::vector<std::string>{"dev-a"});
    CHECK(fx.kick_clients == std::vector<std::string>{"dev-a"});
    CHECK(w.directory.account("backend"));  // accounts were not listed
  }
}

TEST_CASE("access: mosquitto's re-check of a connected client (SIGHUP) keeps its session",
          "[access]") {
  World w;
  Session dev = *decide_login(w.directory, view(&conn_a, "dev-a", "dev-a"),
                              w.password("dev-a").c_str(), kNow, false);
  Session svc =
      *decide_login(w.directory, view(&conn_b, "backend", "w1"), "svc-password", kNow, false);
  // The password is not asked for: the hour it was checked for may be over.
  CHECK(login_still_allowed(w.directory, dev, view(&conn_a, "dev-a", "dev-a")));
  CHECK(login_still_allowed(w.directory, svc, view(&conn_b, "backend", "w1")));

  using Row = std::tuple<const char*, const char*, const char*>;
  auto [what, username, client_id] = GENERATE(table<const char*, const char*, const char*>({
      Row{"another username", "dev-off", "dev-a"},
      Row{"another client id", "dev-a", "dev-b"},
      Row{"no username", nullptr, "dev-a"},
      Row{"no client id", "dev-a", nullptr},
  }));
  CAPTURE(what);
  CHECK_FALSE(login_still_allowed(w.directory, dev, view(&conn_a, username, client_id)));

  SECTION("revoked since") {
    w.directory.put(DeviceCredentials{1, "dev-a", w.hash_a, false});
    CHECK_FALSE(login_still_allowed(w.directory, dev, view(&conn_a, "dev-a", "dev-a")));
  }
  SECTION("deleted and added again: another device") {
    w.directory.put(DeviceCredentials{7, "dev-a", w.hash_a, true});
    CHECK_FALSE(login_still_allowed(w.directory, dev, view(&conn_a, "dev-a", "dev-a")));
  }
  SECTION("an account deleted, or given another role") {
    w.directory.remove_account("backend");
    CHECK_FALSE(login_still_allowed(w.directory, svc, view(&conn_b, "backend", "w1")));
    w.directory.put(AccountCredentials{"backend", Role::admin, w.svc.salt_hex, w.svc.hash_hex});
    CHECK_FALSE(login_still_allowed(w.directory, svc, view(&conn_b, "backend", "w1")));
  }
  SECTION("a session a newer connection took over") {
    dev.replaced = true;
    CHECK_FALSE(login_still_allowed(w.directory, dev, view(&conn_a, "dev-a", "dev-a")));
  }
}
