// The Device API's devices, fleet, telemetry, security log and diagnostics
// (SPEC §10): the same store and feature calls rs1ctl's device, telemetry,
// security and diag commands make, with the documents of SPEC §8.
#pragma once

namespace rs1 {

class ApiApp;

void add_device_routes(ApiApp& app);

}  // namespace rs1
