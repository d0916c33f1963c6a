// Checks of command-line values, run while parsing so every bad value is a
// usage error (exit 2) before anything is opened or changed. They carry no
// description of their own: options name their values as SPEC §8 does.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace rs1ctl {

CLI::Validator device_id_check();     // SPEC §4: 1-64 of [A-Za-z0-9_-]
CLI::Validator account_name_check();  // the same rule as device ids
CLI::Validator metric_check();        // a telemetry topic suffix (rs1::is_valid_metric)

// SPEC §8 times T (unix seconds, ISO-8601, 15m/2h/7d back from `now_s`),
// rewritten to unix seconds so the option reads as an integer.
CLI::Validator time_transform(std::int64_t now_s);

// A device secret as provisioning showed it: 64 hex characters, lowercased
// because the password is derived from the lowercase text. False (and
// `value` unchanged) for anything else.
bool normalize_device_secret(std::string& value);
CLI::Validator device_secret_transform();

// A comma-separated list of non-empty items (diag --what).
CLI::Validator comma_list_check();

}  // namespace rs1ctl
