#include "commands.hpp"

namespace rs1ctl {

void add_init_command(Cli& cli) {
  cli.add_command(cli.app(), "init",
                  "Create the database and its directory, or bring its schema up to date",
                  [](Session& session) {
                    int version = session.create_store().schema_version();
                    return Outcome{{{"db", session.db_path()}, {"schema_version", version}},
                                   "database " + session.db_path() + " ready (schema version " +
                                       std::to_string(version) + ")\n"};
                  });
}

}  // namespace rs1ctl
