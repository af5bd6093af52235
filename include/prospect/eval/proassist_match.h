// ProAssist's event matching and metrics (eval.match = proassist), so our numbers read against the
// ProAssist paper's. The rules (theirs; one defect fixed, one tie rule added, both stated here):
//
// - Every frame first..last of a clip is a slot with a generated and a reference text; "" is
//   silence. Our turns become slot texts by frame: the texts of the assistant turns placed at one
//   frame, joined by one space in turn order (ProAssist never has two at one frame).
// - A generated slot g may pair with slot s when left <= s - g <= right (the window, in frames:
//   seconds times fps truncated toward zero, as Python's int()). Cost of the pair: a text cost (1
//   when s is silent, else 1 - |cos| of the two texts' sentence embeddings) plus a distance cost
//   0.3 * (|s - g| / R)^1.5 with R = max(|left|, right) (0 when R is 0). Outside the window: no pair.
// - The matching: every generated slot to a distinct slot, at the least total cost (a min-cost full
//   bipartite matching). Matched to a silent slot: redundant. A talking reference slot no generated
//   slot took: missed. A pair with a talking slot counts as matched when its semantic score
//   (1 - text cost) > 0.5, else mismatched.
// - Defect fixed: ProAssist builds scipy's sparse matrix from the dense cost matrix, which drops the
//   entries that are exactly 0, so a generated turn equal to the reference at the same frame had no
//   edge and ended as redundant + missed. Here every pair inside the window is an edge, whatever its
//   cost (a full matching's optimum does not change when one constant is added to every edge, which
//   is how the Python oracle keeps the zero entries in scipy).
// - Tie rule: each edge's cost is rounded to a multiple of 2^-40 and the matching is exact in those
//   units. Among matchings of equal total it takes the one with the largest sum of i * s over its
//   pairs (i the generated slot's 1-based time rank, s the 1-based slot index in the clip): the one
//   that keeps time order, e.g. of two equally good generated turns the earlier takes the reference.
//
// Numbers (summed over clips in clip-id order, then divided): precision = matched / (matched +
// mismatched + redundant), recall = matched / (matched + mismatched + missed), F1, jaccard_index =
// matched / (matched + mismatched + missed + redundant), missing_rate = missed / (matched +
// mismatched + missed), redundant_rate = redundant / (matched + mismatched + redundant),
// semantic_score = mean score of the pairs with a talking slot scoring >= 0.5, time_diff = mean
// |s - g| / fps (seconds) of the matched pairs; text metrics on the matched pairs. A ratio or mean of
// nothing is null (ProAssist writes 0 or divides by zero).
// No tensors here: the cosines come from the caller (eval/sentence_embedder.h computes them).
#pragma once
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "prospect/eval/metrics.h"  // Event, TextPair

namespace prospect::eval {

// A match window in seconds: a reference may come left_s (<= 0) to right_s (>= 0) after the turn.
struct WindowSeconds {
  double left_s = -2.5;
  double right_s = 2.5;
};

// ProAssist's window for a dataset name, by the first of these its name contains: narration (-2.5,
// 2.5), ego4d (-4.0, 8.5), epickitchens (-1.5, 3.0), holoassist (-1.5, 2.5), egoexolearn (-2.0, 3.5),
// assembly101 (-2.0, 4.0), wtag (-3.0, 6.0); any other name (-2.5, 2.5).
WindowSeconds proassist_dataset_window(const std::string& dataset);

// eval.match_windows: "name=left:right,name=left:right" (seconds), e.g. "ego4d=-4:8.5,*=-2:3". A name
// matches a dataset whose name contains it; "*" matches any. UsageError on a malformed entry, a left
// above 0 or a right below 0.
std::vector<std::pair<std::string, WindowSeconds>> parse_match_windows(const std::string& spec);

// The first override whose name the dataset contains, else ProAssist's table.
WindowSeconds match_window_for(const std::string& dataset,
                               const std::vector<std::pair<std::string, WindowSeconds>>& overrides);

// The window in frames: int(t * fps) for each bound (truncation toward zero, no epsilon: ProAssist's).
struct OffsetWindow {
  int64_t left = 0, right = 0;
};
OffsetWindow offset_window(const WindowSeconds& w, double fps);

// One talking slot: a frame and its (joined) text.
struct FrameText {
  int64_t frame = 0;
  std::string text;
};

// The slots that talk: assistant events grouped by frame (in time order: frame, then list position),
// their non-empty texts joined by " "; frames whose joined text is "" are silent and left out.
std::vector<FrameText> talking_slots(const std::vector<Event>& events);

struct ProAssistParams {
  OffsetWindow window;
  double dist_factor = 0.3;  // ProAssist's match_dist_func_factor
  double dist_power = 1.5;   // match_dist_func_power
  double threshold = 0.5;    // match_semantic_score_threshold
};

// The cost of a generated slot against the slot `offset` frames later: text_cost + distance cost.
// text_cost is 1 for a silent slot, 1 - |cos| for a talking one.
double proassist_pair_cost(double text_cost, int64_t offset, const ProAssistParams& p);

struct ProAssistPair {
  int gen = 0;         // index into the generated slots
  int ref = -1;        // index into the reference slots; -1: a silent slot (redundant)
  int64_t slot = 0;    // the frame of the slot taken
  double cost = 0;     // text cost + distance cost
  double score = 0;    // semantic score 1 - text cost (0 for a silent slot)
};

struct ProAssistMatch {
  std::vector<ProAssistPair> pairs;  // one per generated slot, in its order
  std::vector<int> missed;           // reference slots left unmatched, in order
  double total_cost = 0;             // sum of the pairs' costs
};

// The matching of one clip. gen and ref in time order (talking_slots()), frames inside
// [first_frame, last_frame]; cos[i * ref.size() + j] = cosine of gen[i] and ref[j] (read only for
// pairs inside the window). Error when a slot lies outside the clip, or the window does not hold 0.
ProAssistMatch match_proassist(int64_t first_frame, int64_t last_frame, const std::vector<FrameText>& gen,
                               const std::vector<FrameText>& ref, const std::vector<double>& cos,
                               const ProAssistParams& p);

// What one clip adds to the numbers (kept per clip, added on rank 0 in clip-id order).
struct ProAssistClip {
  int64_t matched = 0, mismatched = 0, missed = 0, redundant = 0;
  std::vector<double> scores;      // semantic score of every pair with a talking slot, in order
  std::vector<double> time_diffs;  // |slot - gen| / fps of the matched pairs (score > threshold)
  std::vector<TextPair> text_pairs;  // (reference, generated) of the matched pairs
};
ProAssistClip proassist_clip(const ProAssistMatch& m, const std::vector<FrameText>& gen,
                             const std::vector<FrameText>& ref, double fps, double threshold);
nlohmann::ordered_json proassist_clip_to_json(const ProAssistClip& c);
ProAssistClip proassist_clip_from_json(const nlohmann::json& j, const std::string& where);

// Sums of clips, in the order given, and the numbers that do not need the text scorers.
struct ProAssistTotals {
  int64_t matched = 0, mismatched = 0, missed = 0, redundant = 0;
  std::optional<double> precision, recall, f1, jaccard_index, missing_rate, redundant_rate;
  std::optional<double> semantic_score, time_diff;
  std::vector<TextPair> text_pairs;  // every matched pair, clip by clip
};
ProAssistTotals proassist_totals(const std::vector<ProAssistClip>& clips, double threshold = 0.5);

// Text scores of the matched pairs (computed by the caller: PTB tokens, BLEU, CIDEr, METEOR).
struct ProAssistText {
  std::array<std::optional<double>, 4> bleu;
  std::optional<double> cider, meteor;
};

// The eval.json section, keys as ProAssist's metrics.json names them: jaccard_index, missing_rate,
// redundant_rate, semantic_score, time_diff, precision, recall, F1, num_matched, num_mismatched,
// num_missed, num_redundant, Bleu_1..Bleu_4, CIDEr, METEOR, each text score also as <name>_w =
// jaccard_index * score. null where undefined.
nlohmann::ordered_json proassist_json(const ProAssistTotals& t, const ProAssistText& text);

}  // namespace prospect::eval
