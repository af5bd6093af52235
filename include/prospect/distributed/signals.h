// Graceful stop (SPEC §7): SIGUSR1 / SIGTERM (Slurm's --signal, or its time limit) only set a flag;
// the training loop asks at each step boundary whether any rank got one (all-reduce MAX), so every
// rank stops after the same step; rank 0 then checkpoints and all exit 3 (kExitStopped), which the
// job script turns into `scontrol requeue`.
#pragma once

#include "prospect/distributed/communicator.h"

namespace prospect {

// Installs the handlers for SIGUSR1 and SIGTERM (async-signal-safe: they store the signal number in
// a lock-free atomic and return). Call once, early in main, before the communicator starts threads.
void install_stop_signal_handlers();

// True once this process received SIGUSR1 or SIGTERM (or request_stop() was called).
bool stop_signal_received();
// The signal received (SIGUSR1, SIGTERM), 0 if none; -1 after request_stop().
int stop_signal_number();
// Sets the flag as a signal would (tests; a trainer that wants to stop itself).
void request_stop();
// Clears the flag (tests).
void clear_stop_request();

// Collective: true on every rank if any rank received a stop signal. Call at a step boundary, on
// every rank, at the same step (it is an all-reduce MAX of the flag).
bool stop_requested_agreed(Communicator& comm);

}  // namespace prospect
