// Sharding (SPEC §2.3). The unit is the video: all clips of a video go to one virtual rank. Each epoch:
// shuffle the videos with Rng(seed + epoch), assign them to virtual ranks greedily, largest weight
// first, to the least loaded rank (ties: shuffled order, lowest rank); a rank's clips are its videos
// in shuffled order, each video's clips in store order, cut into micro-batches of micro_batch_size
// (the last may be shorter); then every rank gets the same number of micro-batches, the shorter ones
// repeating their own first micro-batches (counted in padding). Deterministic for (seed, epoch,
// virtual ranks, micro_batch_size, weights): independent of the number of processes.
#pragma once
#include <cstdint>
#include <vector>

namespace prospect {

struct ShardPlan {
  int64_t epoch = 0;
  int virtual_ranks = 0;
  // micro_batches[r][m] = clip indices of micro-batch m of virtual rank r.
  std::vector<std::vector<std::vector<int64_t>>> micro_batches;
  std::vector<int64_t> padding;           // per virtual rank: micro-batches that are repeats
  std::vector<double> weight;             // per virtual rank: summed weight of its videos
  std::vector<std::vector<int64_t>> videos;  // per virtual rank: its videos, in order

  int64_t micro_batches_per_rank() const { return micro_batches.empty() ? 0 : static_cast<int64_t>(micro_batches[0].size()); }
  int64_t total_padding() const;
};

// clip_video[c]: the video of clip c (index into video_weight), or -1 to leave clip c out (e.g. an
// invalid clip skipped). video_weight[v]: the caller's weight (its token count). Videos without clips
// are left out. Throws Error when there are fewer videos with clips than virtual ranks.
ShardPlan make_shard_plan(const std::vector<int64_t>& clip_video, const std::vector<double>& video_weight,
                          int virtual_ranks, int micro_batch_size, uint64_t seed, int64_t epoch);

// The virtual ranks a real rank runs, one after another within each optimizer step: r, r + world, ...
// (virtual_ranks must be a multiple of world_size).
std::vector<int> virtual_ranks_of(int rank, int world_size, int virtual_ranks);

}  // namespace prospect
