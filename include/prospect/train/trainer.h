// The training loop (SPEC §6, §7): data order by the shard plan of the virtual ranks, a prefetch
// thread that builds every micro-batch of the next step (so the step's four label counts are known
// and all-reduced before its first backward), backward per micro-batch, gradient reduction (sum),
// clipping, AdamW, non-finite steps skipped on every rank, metrics.jsonl, teacher-forced
// validation, checkpoints and resume, graceful stop on SIGUSR1/SIGTERM (exit 3).
#pragma once
#include <string>

#include "prospect/core/config.h"

namespace prospect {

struct TrainArgs {
  std::string run_dir = "runs/demo";
  std::string resume;  // "" (a fresh run in an empty folder), "auto" (latest, or fresh when none), or a checkpoint
  int64_t stop_after_step = -1;  // > 0: behave as if a stop signal came during this step (tests)
};

// Runs training to train.max_steps; returns the exit code (0). Errors throw (Error: 1, UsageError: 2,
// StopRequested: 3 after the checkpoint, PeerError: 4).
int run_training(const Config& cfg, const TrainArgs& args);

}  // namespace prospect
