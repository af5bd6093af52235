// From per-clip results to the numbers of eval.json (SPEC §8): rank 0 gathers every rank's clips,
// sorts them by clip id, sums the integer counts in that order, scores all matched text pairs
// itself, and writes eval.json byte-identical for any number of ranks. Also: predictions.jsonl
// read/write, recomputing everything from it, and the printed table.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "prospect/eval/metrics.h"
#include "prospect/eval/proassist_match.h"
#include "prospect/eval/text_metrics.h"

namespace prospect {
class Communicator;
}

namespace prospect::eval {

class MeteorScorer;

using Ratio = std::optional<double>;  // null when the denominator is 0
Ratio ratio(int64_t num, int64_t den);

struct DecisionScores {
  Ratio precision, recall, f1;
  Ratio balanced_accuracy;  // frame views only
};

// The state head (model.dst_state_head) read in the stream: its accuracy over (decision point, step)
// pairs, and the state tracked from generated updates over the same pairs (StreamResult's counts).
struct StateHeadScores {
  Ratio head_accuracy, tracked_accuracy;
  int64_t pairs = 0;
};

struct Metrics {
  DecisionScores speaking_frame, speaking_event, dst_update_frame, dst_update_event;
  Ratio state_accuracy, joint_goal_accuracy, transition_f1, valid_update_ratio;
  TextScores text;
  ClipCounts counts;  // the sum over clips
  // eval.match = proassist: ProAssist's numbers of the same clips (proassist_match.h); else none.
  struct ProAssist {
    ProAssistTotals totals;
    ProAssistText text;
  };
  std::optional<ProAssist> proassist;
  std::optional<StateHeadScores> state_head;  // only for a model with the state head
};

// Every ratio from summed counts (micro-average), text scores as given.
Metrics compute_metrics(const ClipCounts& total, const TextScores& text);

struct EvalResult {
  Metrics metrics;
  std::vector<ClipResult> clips;  // sorted by clip id
};

// Sorts by clip id (a duplicate id is an Error), sums counts in that order, scores all text pairs.
// proassist: every clip carries its ProAssistClip (an Error names the first that does not); their
// sums in the same order give Metrics::proassist, its text scores with `meteor` (null: METEOR null).
EvalResult combine_results(std::vector<ClipResult> all, bool proassist = false, MeteorScorer* meteor = nullptr);

// Collective: every rank passes its own clips (any split); root gets the combined result, the
// other ranks nullopt. proassist and meteor as combine_results' (meteor read on root only).
std::optional<EvalResult> gather_results(Communicator& comm, const std::vector<ClipResult>& mine, int root = 0,
                                         bool proassist = false, MeteorScorer* meteor = nullptr);

// eval.json text: speaking_frame, speaking_event, dst_update_frame, dst_update_event, dst, text,
// proassist (eval.match = proassist only: proassist_json's keys), counts, config (with state_head:
// dst.state_head_accuracy, dst.state_head_tracked_accuracy, counts.state_head_pairs) (as given by the
// caller: no world size, no paths). Ends with a newline.
std::string eval_json_text(const Metrics& m, const nlohmann::json& config);
void write_eval_json(const std::string& path, const Metrics& m, const nlohmann::json& config);

// predictions.jsonl: one record a line, in the order given (combine_results' order: clip id).
void write_predictions_jsonl(const std::string& path, const std::vector<ClipResult>& clips);
std::vector<ClipRecord> read_predictions_jsonl(const std::string& path);  // Error names path:line

// Recomputes every metric of eval.json from predictions.jsonl records (eval.match_before_s/after_s).
EvalResult evaluate_records(const std::vector<ClipRecord>& records, double match_before_s, double match_after_s);

// A printed table of the metrics (one metric a line, "-" for null).
std::string metrics_table(const Metrics& m);

}  // namespace prospect::eval
