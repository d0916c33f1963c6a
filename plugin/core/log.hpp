// Where the core reports what an operator should see. The broker glue routes
// it to mosquitto's log (from the broker thread only), rs1ctl to stderr.
#pragma once

#include <functional>
#include <string>

namespace rs1 {

enum class LogLevel { info, warning, error };

// Must be safe to call from any thread.
using LogSink = std::function<void(LogLevel, const std::string&)>;

}  // namespace rs1
