// The access decisions of SPEC §4 and §5 over the in-memory directory and
// sessions: who may log in, what a connection may publish, subscribe to and
// receive, and which last wills are delivered. Pure: the broker glue passes
// what Mosquitto told it and carries out the answer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/topic_rules.hpp"
#include "features/devices/directory.hpp"

namespace rs1 {

// What the broker knows of a connection when it asks.
struct ClientView {
  const void* handle = nullptr;
  std::optional<std::string_view> username;
  std::optional<std::string_view> client_id;
};

// The session a successful login opens; nothing when it is refused.
std::optional<Session> decide_login(const Directory& directory, const ClientView& client,
                                    const char* password, std::int64_t now_s,
                                    bool clock_skew_ahead);

// BASIC_AUTH for a connection that is already logged in as `live`: Mosquitto
// 2.0 asks again for every connected client when it reloads its
// configuration (SIGHUP). The connection keeps its session while its identity
// still may log in (a device still active, an account still there with the
// same role). The password is not checked again: a device's changes every
// hour, and it was checked for the hour the device connected.
bool login_still_allowed(const Directory& directory, const Session& live, const ClientView& client);

struct PayloadLimits {
  std::size_t max_payload_bytes = 65536;
};

// ACL_CHECK. A live session is judged by its role. Without one, the
// connection is either delivering a last will (DISCONNECT fires before the
// will's WRITE check) or an offline persistent session receiving what was
// queued for it (READ): both are judged by the identity the directory gives
// the username, never by a live connection. A device's will must be a valid
// state payload, not retained (the database, not the retained store, keeps a
// device's state).
bool decide_access(const Sessions& sessions, const Directory& directory, const ClientView& client,
                   Access access, std::string_view topic, std::string_view payload, bool retain,
                   const PayloadLimits& limits);

// A directory update applied: who must be disconnected (revoked, deleted,
// or whose credentials changed under a live session) and which devices are
// gone for good.
struct DirectoryEffects {
  std::vector<std::string> kick_clients;  // device ids (= client ids)
  std::vector<std::string> kick_users;    // account names
  std::vector<std::string> removed_devices;
};
DirectoryEffects apply_update(Directory& directory, const Sessions& sessions,
                              DirectoryUpdate update);

}  // namespace rs1
