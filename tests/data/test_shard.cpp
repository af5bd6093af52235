#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "prospect/core/error.h"
#include "prospect/core/rng.h"
#include "prospect/data/shard.h"

using namespace prospect;

namespace {
// 1,000 videos of 1-4 clips each, weights 200..5000 "tokens".
struct Videos {
  std::vector<int64_t> clip_video;
  std::vector<double> weight;
};
Videos make_videos(int n = 1000) {
  Videos v;
  Rng r(42);
  for (int i = 0; i < n; ++i) {
    int clips = 1 + static_cast<int>(r.below(4));
    for (int c = 0; c < clips; ++c) v.clip_video.push_back(i);
    v.weight.push_back(200.0 + static_cast<double>(r.below(4800)));
  }
  return v;
}
}  // namespace

TEST(Shard, EveryVideoOnceEqualCountsBalancedPaddingCounted) {
  Videos v = make_videos();
  for (int vr = 1; vr <= 8; ++vr) {
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      ShardPlan p = make_shard_plan(v.clip_video, v.weight, vr, 4, 1234, epoch);
      ASSERT_EQ(static_cast<int>(p.micro_batches.size()), vr);
      std::map<int64_t, int> seen_video;  // video -> its rank
      std::vector<int> clip_count(v.clip_video.size(), 0);
      int64_t expected_padding = 0;
      for (int r = 0; r < vr; ++r) {
        EXPECT_EQ(static_cast<int64_t>(p.micro_batches[r].size()), p.micro_batches_per_rank()) << "rank " << r;
        int64_t own = static_cast<int64_t>(p.micro_batches[r].size()) - p.padding[r];
        for (int64_t m = 0; m < own; ++m) {
          const auto& mb = p.micro_batches[r][m];
          EXPECT_GE(mb.size(), 1u);
          EXPECT_LE(mb.size(), 4u);
          for (int64_t c : mb) {
            ++clip_count[c];
            auto [it, fresh] = seen_video.emplace(v.clip_video[c], r);
            EXPECT_EQ(it->second, r) << "video split across ranks";
          }
        }
        // padding repeats the rank's own first micro-batches
        for (int64_t m = own; m < p.micro_batches_per_rank(); ++m) EXPECT_EQ(p.micro_batches[r][m], p.micro_batches[r][m - own]);
        expected_padding += p.padding[r];
      }
      EXPECT_EQ(p.total_padding(), expected_padding);
      EXPECT_EQ(seen_video.size(), 1000u);
      for (size_t c = 0; c < clip_count.size(); ++c) ASSERT_EQ(clip_count[c], 1) << "clip " << c;
      double mx = *std::max_element(p.weight.begin(), p.weight.end());
      double mn = *std::min_element(p.weight.begin(), p.weight.end());
      EXPECT_LE(mx / mn, 1.05) << vr << " ranks";
      // some rank is not padded
      EXPECT_EQ(*std::min_element(p.padding.begin(), p.padding.end()), 0);
    }
  }
}

TEST(Shard, DeterministicAndEpochsDiffer) {
  Videos v = make_videos();
  ShardPlan a = make_shard_plan(v.clip_video, v.weight, 4, 2, 7, 3);
  ShardPlan b = make_shard_plan(v.clip_video, v.weight, 4, 2, 7, 3);
  EXPECT_EQ(a.micro_batches, b.micro_batches);
  EXPECT_EQ(a.padding, b.padding);
  ShardPlan c = make_shard_plan(v.clip_video, v.weight, 4, 2, 7, 4);
  EXPECT_NE(a.micro_batches, c.micro_batches);
  ShardPlan d = make_shard_plan(v.clip_video, v.weight, 4, 2, 8, 3);
  EXPECT_NE(a.micro_batches, d.micro_batches);
}

TEST(Shard, SkippedClipsAndSmallCases) {
  // 3 videos, one with its only clip skipped (-1): 2 videos over 2 ranks.
  std::vector<int64_t> cv = {0, 0, 0, 1, -1, 2};
  std::vector<double> w = {3, 1, 5};
  ShardPlan p = make_shard_plan(cv, w, 2, 2, 1, 0);
  std::set<int64_t> all;
  for (auto& rank : p.micro_batches)
    for (auto& mb : rank) all.insert(mb.begin(), mb.end());
  EXPECT_EQ(all, (std::set<int64_t>{0, 1, 2, 3, 5}));
  EXPECT_EQ(all.count(4), 0u);
  EXPECT_EQ(p.micro_batches_per_rank(), 2);  // rank with video 0 (3 clips) has 2 micro-batches
  EXPECT_EQ(p.total_padding(), 1);
  EXPECT_THROW(make_shard_plan(cv, w, 4, 2, 1, 0), Error);  // 3 videos cannot fill 4 ranks
  EXPECT_THROW(make_shard_plan(cv, w, 0, 2, 1, 0), UsageError);
}

TEST(Shard, VirtualRanksOfARealRank) {
  EXPECT_EQ(virtual_ranks_of(0, 1, 2), (std::vector<int>{0, 1}));
  EXPECT_EQ(virtual_ranks_of(1, 2, 4), (std::vector<int>{1, 3}));
  EXPECT_EQ(virtual_ranks_of(1, 2, 2), (std::vector<int>{1}));
  EXPECT_THROW(virtual_ranks_of(0, 2, 3), UsageError);
}
