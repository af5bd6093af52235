#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>

#include "prospect/core/error.h"
#include "prospect/core/rng.h"
#include "prospect/eval/matching.h"

using namespace prospect::eval;

namespace {

// Window of fps 2, 2 s before and 4 s after: 4 frames early, 8 frames late.
const MatchWindow kW{4, 8};

std::vector<std::pair<int, int>> pairs_of(const std::vector<MatchPair>& m) {
  std::vector<std::pair<int, int>> out;
  for (const auto& p : m) out.push_back({p.ref, p.pred});
  return out;
}

using P = std::vector<std::pair<int, int>>;

}  // namespace

TEST(MatchWindow, RoundsDown) {
  MatchWindow w = match_window(2.0, 2.0, 4.0);
  EXPECT_EQ(w.before, 4);
  EXPECT_EQ(w.after, 8);
  w = match_window(29.97, 2.0, 4.0);  // 59.94 and 119.88 frames
  EXPECT_EQ(w.before, 59);
  EXPECT_EQ(w.after, 119);
  w = match_window(100, 0.29, 0.0);  // 0.29 * 100 = 28.999999999999996 in doubles: still 29 frames
  EXPECT_EQ(w.before, 29);
  EXPECT_EQ(w.after, 0);
  EXPECT_THROW(match_window(0, 2, 4), prospect::Error);
  EXPECT_THROW(match_window(2, -1, 4), prospect::Error);
}

TEST(Matching, WindowEdges) {
  // reference at 100: predictions at 96 (4 early) and 108 (8 late) match; 95 and 109 do not.
  EXPECT_EQ(pairs_of(match_events({100}, {96}, kW)), (P{{0, 0}}));
  EXPECT_EQ(pairs_of(match_events({100}, {95}, kW)), (P{}));
  EXPECT_EQ(pairs_of(match_events({100}, {108}, kW)), (P{{0, 0}}));
  EXPECT_EQ(pairs_of(match_events({100}, {109}, kW)), (P{}));
  EXPECT_EQ(pairs_of(match_events({100}, {100}, MatchWindow{0, 0})), (P{{0, 0}}));
  EXPECT_EQ(pairs_of(match_events({100}, {101}, MatchWindow{0, 0})), (P{}));
  EXPECT_TRUE(match_events({}, {1, 2}, kW).empty());
  EXPECT_TRUE(match_events({1, 2}, {}, kW).empty());
}

TEST(Matching, MorePairsBeatCloserPairs) {
  // refs 10, 16; preds 14 (4 late for 10, 2 early for 16) and 22 (6 late for 16, 12 late for 10).
  // Closest-first would pair 14-16 and leave 22 alone; the largest matching pairs 14-10 and 22-16.
  EXPECT_EQ(pairs_of(match_events({10, 16}, {14, 22}, kW)), (P{{0, 0}, {1, 1}}));
}

TEST(Matching, SmallestTotalDistance) {
  // refs 10, 12; preds 11, 15. {11-10, 15-12}: 1 + 3 = 4; {11-12, 15-10}: 1 + 5 = 6.
  EXPECT_EQ(pairs_of(match_events({10, 12}, {11, 15}, kW)), (P{{0, 0}, {1, 1}}));
  // refs 10, 13; preds 12, 11 (list order differs from time order): 11-10 and 12-13 (total 2).
  EXPECT_EQ(pairs_of(match_events({10, 13}, {12, 11}, kW)), (P{{0, 1}, {1, 0}}));
}

TEST(Matching, TiesKeepTimeOrder) {
  // Duplicates: refs 10, 10 and preds 12, 12: every matching has total 4; time order wins
  // (sum i*j = 1*1 + 2*2 = 5 against 1*2 + 2*1 = 4).
  EXPECT_EQ(pairs_of(match_events({10, 10}, {12, 12}, kW)), (P{{0, 0}, {1, 1}}));
  EXPECT_EQ(pairs_of(match_events({10, 14}, {12, 12}, kW)), (P{{0, 0}, {1, 1}}));
  // One prediction halfway between two references: both at distance 2; the objective takes the
  // larger i*j, i.e. the later reference (i = 2).
  EXPECT_EQ(pairs_of(match_events({10, 14}, {12}, kW)), (P{{1, 0}}));
}

TEST(Matching, MissesAndDuplicates) {
  // refs 10, 50; preds 10, 11 (a repeat), 90 (nothing near): one pair. P = 1/3, R = 1/2.
  auto m = match_events({10, 50}, {10, 11, 90}, kW);
  EXPECT_EQ(pairs_of(m), (P{{0, 0}}));
}

TEST(Matching, FilterRestrictsPairs) {
  // pred 0 may only pair with ref 1; pred 1 with anything.
  auto allowed = [](int r, int p) { return p != 0 || r == 1; };
  EXPECT_EQ(pairs_of(match_events({10, 12}, {11, 12}, kW, allowed)), (P{{0, 1}, {1, 0}}));
  EXPECT_TRUE(match_events({10}, {10}, kW, [](int, int) { return false; }).empty());
}

// Exhaustive search over every one-to-one matching on small random lists: the matcher's pair count
// and objective (sum |p - r| * 10^6 - sum i * j) equal the best ones found by brute force.
TEST(Matching, AgreesWithBruteForce) {
  prospect::Rng rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    int n = static_cast<int>(rng.below(6)), m = static_cast<int>(rng.below(6));
    std::vector<int64_t> r(n), p(m);
    for (auto& f : r) f = static_cast<int64_t>(rng.below(30));
    for (auto& f : p) f = static_cast<int64_t>(rng.below(30));
    MatchWindow w{static_cast<int64_t>(rng.below(5)), static_cast<int64_t>(rng.below(8))};
    // time-order ranks (frame, then position)
    auto ranks = [](const std::vector<int64_t>& f) {
      std::vector<int> o(f.size());
      for (size_t k = 0; k < o.size(); ++k) o[k] = static_cast<int>(k);
      std::stable_sort(o.begin(), o.end(), [&](int a, int b) { return f[a] < f[b]; });
      std::vector<int64_t> rk(f.size());
      for (size_t k = 0; k < o.size(); ++k) rk[o[k]] = static_cast<int64_t>(k) + 1;
      return rk;
    };
    auto ri = ranks(r), pj = ranks(p);
    auto ok = [&](int i, int j) { return p[j] >= r[i] - w.before && p[j] <= r[i] + w.after; };
    auto cost = [&](int i, int j) { return std::llabs(p[j] - r[i]) * 1000000 - ri[i] * pj[j]; };
    int best_n = 0;
    int64_t best_cost = 0;
    std::vector<int> used(m, 0);
    std::function<void(int, int, int64_t)> rec = [&](int i, int cnt, int64_t c) {
      if (i == n) {
        if (cnt > best_n || (cnt == best_n && c < best_cost)) best_n = cnt, best_cost = c;
        return;
      }
      rec(i + 1, cnt, c);
      for (int j = 0; j < m; ++j)
        if (!used[j] && ok(i, j)) {
          used[j] = 1;
          rec(i + 1, cnt + 1, c + cost(i, j));
          used[j] = 0;
        }
    };
    rec(0, 0, 0);
    auto got = match_events(r, p, w);
    int64_t c = 0;
    std::vector<int> seen_r(n, 0), seen_p(m, 0);
    for (const auto& q : got) {
      ASSERT_TRUE(ok(q.ref, q.pred));
      ASSERT_EQ(seen_r[q.ref]++, 0);
      ASSERT_EQ(seen_p[q.pred]++, 0);
      c += cost(q.ref, q.pred);
    }
    ASSERT_EQ(static_cast<int>(got.size()), best_n) << "trial " << trial;
    ASSERT_EQ(c, best_cost) << "trial " << trial;
  }
}

// Hundreds of events: sum(i * j) passes 10^6, the smallest total distance still comes first.
TEST(Matching, LargeListsStayExact) {
  // 200 identical events: every pair has distance 0; time order pairs the k-th with the k-th.
  {
    std::vector<int64_t> r(200, 1000), p(200, 1000);
    auto m = match_events(r, p, kW);
    ASSERT_EQ(m.size(), 200u);
    for (int k = 0; k < 200; ++k) {
      EXPECT_EQ(m[k].ref, k);
      EXPECT_EQ(m[k].pred, k);
    }
  }
  // Distance against order, by hand. 1199 predictions at frame 0 (no reference within reach) and a
  // last one, q, at 10000 (time rank j = 1200). References: a at 9999 (distance 1 to q, time rank
  // i = 1) and 1200 at 10002 (distance 2, ranks 2..1201). Only q can pair, with one reference: the
  // smallest distance is a. Read literally with weight 10^6, sum(|p - r|) * 10^6 - sum(i * j) would
  // take the last reference at 10002 instead: 2 * 10^6 - 1201 * 1200 < 10^6 - 1 * 1200.
  std::vector<int64_t> refs = {9999}, preds(1199, 0);
  refs.insert(refs.end(), 1200, 10002);
  preds.push_back(10000);
  static_assert(2000000 - 1201 * 1200 < 1000000 - 1 * 1200, "the literal objective must disagree here");
  auto m = match_events(refs, preds, kW);
  ASSERT_EQ(pairs_of(m), (P{{0, 1199}}));
  // The same with the references listed late-first: a is still chosen, by its frame, not its position.
  std::vector<int64_t> rev(refs.rbegin(), refs.rend());
  EXPECT_EQ(pairs_of(match_events(rev, preds, kW)), (P{{1200, 1199}}));
}
