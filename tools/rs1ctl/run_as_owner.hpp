// rs1ctl run as root on a database in a directory another user owns (the
// packaged /var/lib/rs1, owned by mosquitto): before anything is opened, the
// process becomes that user, so every file SQLite and the commands create
// (the database, its -wal and -shm, backups, firmware) belongs to the broker's
// user and the broker can go on writing them (SPEC §11).
#pragma once

#include <string>

namespace rs1ctl {

// The directory whose owner decides: the database's directory, or the nearest
// existing ancestor of it when it does not exist yet (`init` creates it).
std::string owning_directory(const std::string& db_path);

// When the effective user is root and owning_directory(db_path) belongs to
// another user, switches to that user and its groups for good (initgroups,
// setgid, setuid). Throws CommandError, naming the directory and the user,
// when it cannot: the command must then not run as root either.
void run_as_owner_of(const std::string& db_path);

}  // namespace rs1ctl
