// SPEC §9's operations endpoints: GET /metrics (the registry in Prometheus
// text) and GET /healthz (200 "ok", or 503 with the reason).
#pragma once

#include <functional>
#include <string>

#include "runtime/metrics.hpp"

namespace rs1 {

class Routes;

// Returns true when healthy; `detail` says why not. Called from the
// listener's threads, several at once: take a connection from a Pool.
using HealthCheck = std::function<bool(std::string& detail)>;

void mount_ops_routes(Routes& routes, const MetricRegistry& metrics, HealthCheck health);

}  // namespace rs1
