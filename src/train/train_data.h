// The training data (SPEC §2.3): the splits as the trainer opens them, and the plan that turns a shard
// plan per epoch into the micro-batches of each optimizer step. Private to src/train.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "prospect/core/config.h"
#include "prospect/data/shard.h"
#include "prospect/data/store.h"
#include "prospect/distributed/communicator.h"
#include "prospect/seq/collate.h"
#include "prospect/seq/labels.h"
#include "prospect/text/chat_template.h"

namespace prospect::train {

// One split: the store and its clips; clip_video[c] = -1 leaves a clip out (invalid and skipped).
struct Split {
  std::unique_ptr<Store> store;
  std::vector<Clip> clips;
  std::vector<int64_t> clip_video;
};

// Opens a split's store and checks it (SPEC §2.2) once, at start: its structure on every rank, its
// values (NaN/Inf rows) shared out over the ranks, each scanning the clips whose index modulo the
// process count is its rank. Errors of the file (not readable, embedding_dim against model.feature_dim,
// ...) always fail. An invalid clip fails naming it, on the rank that finds it (run_ranks ends the
// others), unless data.skip_invalid: then every rank leaves out the same clips (the ranks exchange what
// their scans found, so their data orders agree).
Split open_split(const std::string& path, const Config& cfg, int64_t feature_dim, const char* what, Communicator& comm);

// All windows of some clips of a split, collated into one batch (on the CPU); pack_to > 0 packs them
// into rows of at most that many tokens (collate; train.pack).
Batch make_batch(const Split& split, const std::vector<int64_t>& clips, const ChatTemplate& tmpl, const SeqOptions& opt,
                 const Sampling& sampling, int64_t pack_to = 0);

// Where the data order stands: the epoch of the next step and the steps of it already done.
struct DataCursor {
  int64_t epoch = 0;
  int64_t epoch_step = 0;
};

// Every micro-batch this rank runs in one optimizer step, their label counts and sizes, and where the
// cursor stands after the step.
struct StepData {
  std::vector<Batch> batches;
  LabelCounts counts;
  int64_t tokens = 0, sequences = 0;
  int64_t tokens_padded = 0;  // positions computed, padding included (PaddingCount)
  DataCursor next;
};

// The data order of one rank. Each epoch a shard plan over the virtual ranks, weights = tokens per video
// (make_shard_plan); a step takes grad_accum micro-batches of each virtual rank this rank runs
// (virtual_ranks_of), in order; an epoch has ceil(micro-batches per virtual rank / grad_accum) steps, the
// last one filled up with the epoch's first micro-batches where the count is not a multiple of
// grad_accum (repeats, counted and logged like the shard plan's padding).
// Not thread-safe: one thread (the prefetch thread) owns a StepPlanner once the loop runs.
class StepPlanner {
 public:
  // split and tmpl must outlive the planner; they are only read.
  StepPlanner(const Config& cfg, const Split& split, const ChatTemplate& tmpl, const SeqOptions& opt, int rank,
              int world, int virtual_ranks);
  // The micro-batches of the step at `at`, and the cursor after it.
  StepData step(const DataCursor& at);

 private:
  const ShardPlan& plan_of(int64_t epoch);  // made once per epoch (the last one kept)
  int64_t steps_in(const ShardPlan& p) const;

  const Config& cfg_;
  const Split& split_;
  const ChatTemplate& tmpl_;
  SeqOptions opt_;
  int rank_, virtual_ranks_, accum_;
  std::vector<int> my_virtual_ranks_;
  std::vector<double> video_weight_;
  std::map<int64_t, ShardPlan> plans_;
};

}  // namespace prospect::train
