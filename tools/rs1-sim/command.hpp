// What every rs1-sim subcommand shares: its exit status (0 done, 1 failed:
// an error or a failed check, 2 usage) and the signal that asks it to stop.
#pragma once

#include <atomic>

namespace rs1::sim {

// Set by the subcommand that ran; main() returns it.
int& exit_status();

// Set by SIGINT/SIGTERM once install_stop_signals() has run.
std::atomic<bool>& stop_requested();
void install_stop_signals();

}  // namespace rs1::sim
