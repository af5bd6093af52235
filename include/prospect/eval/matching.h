// One-to-one matching of predicted to reference events of one clip (SPEC §8). A prediction at frame
// p may match a reference at frame r when r - before <= p <= r + after. Among all matchings: the
// largest number of pairs; among those the smallest total |p - r|; among those the one that keeps
// time order (largest sum(i * j), i and j the 1-based time-order indices of reference and
// prediction). Exact: integer costs, min-cost maximum flow.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace prospect::eval {

// Window in frames: before = floor(before_s * fps), after = floor(after_s * fps).
struct MatchWindow {
  int64_t before = 0;
  int64_t after = 0;
};
MatchWindow match_window(double fps, double before_s, double after_s);

struct MatchPair {
  int ref = 0;   // index into the reference list given
  int pred = 0;  // index into the prediction list given
};

// An extra condition on a pair (same step and transition, not malformed...); empty: any pair.
using PairFilter = std::function<bool(int ref, int pred)>;

// Pairs sorted by reference time order. Time order of a list = by frame, ties by list position.
std::vector<MatchPair> match_events(const std::vector<int64_t>& ref_frames,
                                    const std::vector<int64_t>& pred_frames, MatchWindow window,
                                    const PairFilter& allowed = {});

}  // namespace prospect::eval
