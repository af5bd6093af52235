#include "prospect/data/shard.h"

#include <algorithm>
#include <numeric>

#include "prospect/core/error.h"
#include "prospect/core/rng.h"

namespace prospect {

int64_t ShardPlan::total_padding() const {
  int64_t n = 0;
  for (auto p : padding) n += p;
  return n;
}

ShardPlan make_shard_plan(const std::vector<int64_t>& clip_video, const std::vector<double>& video_weight,
                          int virtual_ranks, int micro_batch_size, uint64_t seed, int64_t epoch) {
  if (virtual_ranks < 1) usage_fail("virtual ranks: expected >= 1, found {}", virtual_ranks);
  if (micro_batch_size < 1) usage_fail("micro_batch_size: expected >= 1, found {}", micro_batch_size);
  const int64_t V = static_cast<int64_t>(video_weight.size());
  std::vector<std::vector<int64_t>> clips_of(V);
  for (size_t c = 0; c < clip_video.size(); ++c) {
    int64_t v = clip_video[c];
    if (v < 0) continue;
    if (v >= V) fail("sharding: clip {} names video {}, but there are {} weights", c, v, V);
    clips_of[v].push_back(static_cast<int64_t>(c));
  }
  std::vector<int64_t> order;
  for (int64_t v = 0; v < V; ++v)
    if (!clips_of[v].empty()) order.push_back(v);
  if (static_cast<int64_t>(order.size()) < virtual_ranks)
    fail("sharding: {} videos with clips cannot fill {} virtual ranks (every rank needs a video)", order.size(),
         virtual_ranks);

  // Shuffle (Fisher-Yates with the shared generator), then largest-first with ties in shuffled order.
  Rng rng(seed + static_cast<uint64_t>(epoch));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<int64_t> pos(V, 0);
  for (size_t i = 0; i < order.size(); ++i) pos[order[i]] = static_cast<int64_t>(i);
  std::vector<int64_t> by_weight = order;
  std::stable_sort(by_weight.begin(), by_weight.end(),
                   [&](int64_t a, int64_t b) { return video_weight[a] > video_weight[b]; });

  ShardPlan plan;
  plan.epoch = epoch;
  plan.virtual_ranks = virtual_ranks;
  plan.weight.assign(virtual_ranks, 0.0);
  plan.videos.assign(virtual_ranks, {});
  for (int64_t v : by_weight) {
    int best = 0;
    for (int r = 1; r < virtual_ranks; ++r)
      if (plan.weight[r] < plan.weight[best]) best = r;
    plan.weight[best] += video_weight[v];
    plan.videos[best].push_back(v);
  }
  // A rank reads its videos in shuffled order.
  for (auto& vs : plan.videos) std::sort(vs.begin(), vs.end(), [&](int64_t a, int64_t b) { return pos[a] < pos[b]; });

  plan.micro_batches.assign(virtual_ranks, {});
  size_t longest = 0;
  for (int r = 0; r < virtual_ranks; ++r) {
    std::vector<int64_t> clips;
    for (int64_t v : plan.videos[r]) clips.insert(clips.end(), clips_of[v].begin(), clips_of[v].end());
    for (size_t i = 0; i < clips.size(); i += micro_batch_size)
      plan.micro_batches[r].emplace_back(clips.begin() + i,
                                         clips.begin() + std::min(clips.size(), i + static_cast<size_t>(micro_batch_size)));
    longest = std::max(longest, plan.micro_batches[r].size());
  }
  plan.padding.assign(virtual_ranks, 0);
  for (int r = 0; r < virtual_ranks; ++r) {
    auto& mbs = plan.micro_batches[r];
    size_t own = mbs.size();
    for (size_t i = 0; mbs.size() < longest; ++i) mbs.push_back(mbs[i % own]);
    plan.padding[r] = static_cast<int64_t>(longest - own);
  }
  return plan;
}

std::vector<int> virtual_ranks_of(int rank, int world_size, int virtual_ranks) {
  if (world_size < 1 || rank < 0 || rank >= world_size) usage_fail("rank {} of world size {}", rank, world_size);
  if (virtual_ranks % world_size != 0)
    usage_fail("data.virtual_ranks ({}) must be a multiple of the number of ranks ({})", virtual_ranks, world_size);
  std::vector<int> out;
  for (int r = rank; r < virtual_ranks; r += world_size) out.push_back(r);
  return out;
}

}  // namespace prospect
