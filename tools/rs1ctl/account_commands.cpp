// rs1ctl account ...: backend service and operator logins (SPEC §4).
#include <memory>
#include <string>

#include "commands.hpp"
#include "core/identity.hpp"
#include "output.hpp"
#include "validators.hpp"

namespace rs1ctl {
namespace {

struct AccountArgs {
  std::string username;
  std::string role;
};

// An account command whose first argument is the account name.
CLI::App* add_name_command(Cli& cli, CLI::App& group, AccountArgs& args, const std::string& name,
                           const std::string& description, Handler handler) {
  CLI::App* command = cli.add_command(group, name, description, std::move(handler));
  command->add_option("NAME", args.username, "Account name")
      ->required()
      ->check(account_name_check());
  return command;
}

Outcome add_account(Session& session, const AccountArgs& args) {
  rs1::Database& store = session.store();
  rs1::Role role = args.role == "admin" ? rs1::Role::admin : rs1::Role::service;
  std::string password = rs1::new_account_password();
  rs1::AccountPassword hashed = rs1::hash_account_password(password);
  try {
    store.accounts().add(args.username, role, hashed.salt_hex, hashed.hash_hex, session.now());
  } catch (const rs1::StoreError& e) {
    if (e.kind() != rs1::StoreError::Kind::conflict) throw;
    // The same insert fails for a taken account name and for a device id.
    throw CommandError(store.accounts().find_credentials(args.username)
                           ? "account " + args.username + " already exists"
                           : args.username + " is already a device id");
  }
  return Outcome{{{"username", args.username}, {"role", rs1::role_name(role)}, {"password", password}},
                 "account " + args.username + " (" + rs1::role_name(role) +
                     ") added\npassword: " + password + "\n(shown only this once)\n"};
}

Outcome list_accounts(Session& session) {
  Json document = Json::array();
  Table table({"USERNAME", "ROLE", "CREATED"});
  for (const rs1::AccountRecord& a : session.store().accounts().list()) {
    document.push_back(
        {{"username", a.username}, {"role", rs1::role_name(a.role)}, {"created_at", a.created_at}});
    table.add_row({a.username, rs1::role_name(a.role), format_time(a.created_at)});
  }
  return Outcome{document, table.str("no accounts")};
}

Outcome delete_account(Session& session, const AccountArgs& args) {
  if (!session.store().accounts().remove(args.username)) {
    throw CommandError("account " + args.username + " not found");
  }
  return Outcome{{{"username", args.username}, {"deleted", true}},
                 "account " + args.username + " deleted\n"};
}

}  // namespace

void add_account_commands(Cli& cli) {
  auto args = std::make_shared<AccountArgs>();
  CLI::App* account = cli.add_group("account", "Manage service and admin accounts");

  CLI::App* add =
      add_name_command(cli, *account, *args, "add", "Create an account; prints its password once",
                       [args](Session& s) { return add_account(s, *args); });
  add->add_option("--role", args->role, "service or admin")
      ->type_name("ROLE")
      ->required()
      ->check(CLI::IsMember({"service", "admin"}).description(""));

  cli.add_command(*account, "list", "List accounts", [](Session& s) { return list_accounts(s); });
  add_name_command(cli, *account, *args, "delete", "Delete an account",
                   [args](Session& s) { return delete_account(s, *args); });
}

}  // namespace rs1ctl
