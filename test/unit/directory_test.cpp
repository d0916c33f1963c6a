// Directory and Sessions: who may log in, who is online. A device is online
// from a successful login until its last connection ends; a client-id
// takeover never takes it offline (SPEC §5).
#include "features/devices/directory.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "unit_support.hpp"

using namespace rs1;

namespace {

Session device(const std::string& id, std::int64_t ref) {
  Session s;
  s.identity = id;
  s.client_id = id;
  s.role = Role::device;
  s.device_ref = ref;
  return s;
}

Session account(const std::string& name, Role role, const std::string& client_id = "c") {
  Session s;
  s.identity = name;
  s.client_id = client_id;
  s.role = role;
  return s;
}

std::multiset<std::int64_t> online_refs(const Sessions& sessions) {
  std::multiset<std::int64_t> refs;
  sessions.for_each_device([&](std::int64_t ref) { refs.insert(ref); });
  return refs;
}

// Stand-ins for mosquitto's client handles: only their addresses matter.
int client_a, client_b, client_c, client_d;

}  // namespace

TEST_CASE("directory: login brings a device online, disconnect takes it offline", "[directory]") {
  Sessions s;
  CHECK_FALSE(s.is_online("dev-a"));
  CHECK(s.login(&client_a, device("dev-a", 1)));
  CHECK(s.is_online("dev-a"));
  CHECK(s.online_devices() == 1);
  REQUIRE(s.find(&client_a));
  CHECK(s.find(&client_a)->identity == "dev-a");
  CHECK(s.find(&client_a)->device_ref == 1);
  CHECK_FALSE(s.find(&client_a)->replaced);

  auto ended = s.disconnect(&client_a);
  REQUIRE(ended);
  CHECK(ended->went_offline);
  CHECK(ended->session.identity == "dev-a");
  CHECK(ended->session.device_ref == 1);
  CHECK_FALSE(s.is_online("dev-a"));
  CHECK(s.online_devices() == 0);
  CHECK_FALSE(s.find(&client_a));
  // A second disconnect, or one for a connection that never logged in (a
  // failed login), finds nothing and changes nothing.
  CHECK_FALSE(s.disconnect(&client_a));
  CHECK_FALSE(s.disconnect(&client_b));
  CHECK(s.online_devices() == 0);
}

TEST_CASE("directory: a takeover keeps the device online", "[directory]") {
  Sessions s;
  REQUIRE(s.login(&client_a, device("dev-a", 1)));
  // The same client id connects again: the new connection logs in before the
  // old one is disconnected.
  CHECK_FALSE(s.login(&client_b, device("dev-a", 1)));  // already online
  CHECK(s.find(&client_a)->replaced);
  CHECK_FALSE(s.find(&client_b)->replaced);
  CHECK(s.online_devices() == 1);
  CHECK(online_refs(s) == std::multiset<std::int64_t>{1});

  auto old = s.disconnect(&client_a);
  REQUIRE(old);
  CHECK_FALSE(old->went_offline);
  CHECK(old->session.replaced);
  CHECK(s.is_online("dev-a"));
  CHECK(s.online_devices() == 1);

  auto last = s.disconnect(&client_b);
  REQUIRE(last);
  CHECK(last->went_offline);
  CHECK_FALSE(s.is_online("dev-a"));
  CHECK(s.online_devices() == 0);
}

TEST_CASE("directory: the newer connection may end first", "[directory]") {
  Sessions s;
  s.login(&client_a, device("dev-a", 1));
  s.login(&client_b, device("dev-a", 1));
  auto newer = s.disconnect(&client_b);
  REQUIRE(newer);
  CHECK_FALSE(newer->went_offline);
  CHECK(s.is_online("dev-a"));
  CHECK(s.disconnect(&client_a)->went_offline);
  CHECK(s.online_devices() == 0);
}

TEST_CASE("directory: the same connection logging in again", "[directory]") {
  Sessions s;
  CHECK(s.login(&client_a, device("dev-a", 1)));
  s.login(&client_a, device("dev-a", 1));
  CHECK(s.online_devices() == 1);
  CHECK_FALSE(s.find(&client_a)->replaced);  // not a takeover of itself
  CHECK(s.disconnect(&client_a)->went_offline);
  CHECK(s.online_devices() == 0);
  CHECK_FALSE(s.is_online("dev-a"));
}

TEST_CASE("directory: online devices are counted per device, accounts are not", "[directory]") {
  Sessions s;
  s.login(&client_a, device("dev-a", 1));
  s.login(&client_b, device("dev-b", 2));
  CHECK(s.login(&client_c, account("backend", Role::service)));
  CHECK(s.login(&client_d, account("root", Role::admin)));
  CHECK(s.online_devices() == 2);
  CHECK(s.is_online("backend"));
  CHECK(online_refs(s) == std::multiset<std::int64_t>{1, 2});

  auto svc = s.disconnect(&client_c);
  REQUIRE(svc);
  CHECK(svc->went_offline);
  CHECK(svc->session.role == Role::service);
  CHECK(s.online_devices() == 2);
  s.disconnect(&client_a);
  CHECK(s.online_devices() == 1);
  CHECK(online_refs(s) == std::multiset<std::int64_t>{2});
  s.disconnect(&client_d);
  s.disconnect(&client_b);
  CHECK(s.online_devices() == 0);
  CHECK(online_refs(s).empty());
}

TEST_CASE("directory: credentials by name, replaced and removed", "[directory]") {
  Directory d;
  d.replace({DeviceCredentials{1, "dev-a", "hash-a", true},
             DeviceCredentials{2, "dev-b", "hash-b", true}},
            {AccountCredentials{"backend", Role::service, "salt", "hash"}});
  CHECK(d.device_count() == 2);
  REQUIRE(d.device("dev-a"));
  CHECK(d.device("dev-a")->secret_hash == "hash-a");
  CHECK_FALSE(d.device("backend"));
  REQUIRE(d.account("backend"));
  CHECK(d.account("backend")->role == Role::service);
  CHECK_FALSE(d.account("dev-a"));

  // A revocation arriving from the change feed replaces the entry.
  d.put(DeviceCredentials{1, "dev-a", "hash-a", false});
  CHECK_FALSE(d.device("dev-a")->active);
  CHECK(d.device_count() == 2);
  d.remove_device("dev-b");
  CHECK_FALSE(d.device("dev-b"));
  d.remove_account("backend");
  CHECK_FALSE(d.account("backend"));

  // replace() forgets what is not in the new set.
  d.replace({DeviceCredentials{3, "dev-c", "hash-c", true}}, {});
  CHECK(d.device_count() == 1);
  CHECK_FALSE(d.device("dev-a"));
  CHECK(d.device("dev-c"));
}

TEST_CASE("directory: many connections of one account never replace each other", "[directory]") {
  // Two backend workers sharing a service account, and an operator's
  // mosquitto_sub beside them: each has its own client id.
  Sessions s;
  CHECK(s.login(&client_a, account("backend", Role::service, "worker-1")));
  CHECK_FALSE(s.login(&client_b, account("backend", Role::service, "worker-2")));
  CHECK_FALSE(s.login(&client_c, account("backend", Role::service, "mosquitto_sub-42")));
  CHECK_FALSE(s.find(&client_a)->replaced);
  CHECK_FALSE(s.find(&client_b)->replaced);
  CHECK_FALSE(s.find(&client_c)->replaced);
  // A takeover is about a client id: worker-1 connecting again replaces
  // only its own earlier connection.
  s.login(&client_d, account("backend", Role::service, "worker-1"));
  CHECK(s.find(&client_a)->replaced);
  CHECK_FALSE(s.find(&client_b)->replaced);
  CHECK_FALSE(s.find(&client_c)->replaced);
  CHECK_FALSE(s.disconnect(&client_a)->went_offline);
  CHECK_FALSE(s.disconnect(&client_b)->went_offline);
  CHECK_FALSE(s.disconnect(&client_c)->went_offline);
  CHECK(s.disconnect(&client_d)->went_offline);
}
