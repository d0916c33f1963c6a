// The registry of plugin options (SPEC §3): each module declares the options
// it uses where it lives (name, range, target field), and the registry parses
// mosquitto.conf's plugin_opt_ lines against all of them, so an unknown or
// repeated option, or a bad value, stops the broker with one clear line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace rs1 {

// The message names the option and what is wrong with its value.
class OptionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HostPort {
  std::string host;
  int port = 0;
};

class OptionRegistry {
 public:
  using Setter = std::function<void(const std::string& name, const std::string& value)>;

  // The general form; every typed declaration below is one of these.
  // Throws std::logic_error for a name declared twice.
  void declare(const std::string& name, Setter setter);

  void integer(const std::string& name, int& target, std::int64_t min, std::int64_t max);
  void integer(const std::string& name, std::size_t& target, std::int64_t min, std::int64_t max);
  void boolean(const std::string& name, bool& target);
  void text(const std::string& name, std::string& target);  // non-empty
  void host_port(const std::string& name, std::optional<HostPort>& target);
  void url(const std::string& name, std::string& target);  // http:// or https://, with a host

  // Options in the order mosquitto.conf gave them ("plugin_opt_" removed).
  // Throws OptionError.
  void parse(const std::vector<std::pair<std::string, std::string>>& raw) const;
  bool declared(const std::string& name) const { return setters_.count(name) != 0; }

 private:
  std::map<std::string, Setter> setters_;
};

// "plugin_opt_NAME 'VALUE': why".
[[noreturn]] void option_fail(const std::string& name, const std::string& value,
                              const std::string& why);

}  // namespace rs1
