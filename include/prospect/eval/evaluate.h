// prospect_eval's work (SPEC §8): a checkpoint streamed over a split's clips, sharded round-robin by
// clip index over the ranks; rank 0 gathers the per-clip results, sums them in clip-id order and
// writes eval.json, predictions.jsonl and the printed table. Nothing written depends on the number of
// ranks.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "prospect/checkpoint/checkpoint.h"
#include "prospect/core/config.h"
#include "prospect/eval/proassist_match.h"
#include "prospect/eval/report.h"
#include "prospect/eval/stream.h"
#include "prospect/seq/format.h"

namespace prospect {
class Communicator;
}

namespace prospect::eval {

// What an evaluation runs on.
struct EvalSetup {
  Config cfg;                  // the effective configuration (data.*, eval.*)
  Checkpoint checkpoint;       // a training checkpoint or a bare model folder (checkpoint/checkpoint.h)
  SequenceLayout layout;       // the checkpoint's; a bare model folder: the configuration's
  std::string tokenizer_path;  // the checkpoint's copy; a bare model folder: data.tokenizer
  std::string split = "test";  // recorded in eval.json
  std::string store_path;      // the split's store: data.train | data.val | data.test
  std::string out_dir;         // "" writes nothing
  // eval.match = proassist: eval.match_windows parsed (empty: ProAssist's window of each clip's dataset)
  std::vector<std::pair<std::string, WindowSeconds>> match_windows;
};

// Reads the checkpoint folder and checks the configuration's model.* keys against it (UsageError naming
// the first that differs: the checkpoint defines the model). split: train | val | test. With
// eval.match = proassist: UsageError when eval.sentence_encoder is empty, eval.match_windows does not
// parse, or eval.meteor_jar names no readable file (every rank checks, so none waits for another).
EvalSetup make_eval_setup(const Config& cfg, const std::string& checkpoint_dir, const std::string& split,
                          const std::string& out_dir);

// The `config` block of eval.json: what the numbers depend on, no paths, no world size.
nlohmann::json eval_config_json(const EvalSetup& s);

// The clip as the loop streams it (stream.h): every frame, whatever opt.frames says (a rule that looks
// at the reference turns would show the model where the events are), and the reference user turns;
// assistant and DST turns of the reference are never shown. rows: the clip's embeddings, kept alive by
// the caller.
StreamClip stream_input(const Clip& clip, const std::vector<float>& rows, int64_t dim, double fps,
                        const ChatTemplate& tmpl, const SeqOptions& opt);

// Streams every clip of this rank, gathers on rank 0 and writes the outputs there. With eval.match =
// proassist every rank also loads eval.sentence_encoder and evaluates its clips ProAssist's way (one
// batch of sentence embeddings per clip), and rank 0 runs eval.meteor_jar, when set, on the matched
// pairs (unset: METEOR null, and a log line says so). Returns the
// combined result on rank 0, nullopt elsewhere. Errors (prospect::Error): a store that is missing or
// not a store, embeddings whose dimension is not the model's feature_dim, a tokenizer that does not
// fit the model's vocabulary; each names the file.
std::optional<EvalResult> evaluate_stream(const EvalSetup& s, Communicator& comm);

// Teacher-forced evaluation (--mode teacher-forced): the reference stream of every clip in the
// windows of SPEC §3, one forward each; decision P/R/F1 at eval.speak_threshold / eval.dst_threshold
// over every labelled decision point and the perplexity of assistant and DST turns. Per-clip sums are
// added on rank 0 in clip-id order. With sweep, also the F1-optimal threshold of each head. Writes
// teacher_forced.json into out_dir on rank 0 and returns its JSON there (null elsewhere).
nlohmann::ordered_json evaluate_teacher_forced(const EvalSetup& s, Communicator& comm, bool sweep);

// The probability threshold with the best F1 for logits against 0/1 labels, as the midpoint between
// consecutive distinct sigmoid values (ties in F1: the highest threshold). nullopt without positives.
struct ThresholdChoice {
  double threshold = 0.5;
  double f1 = 0, precision = 0, recall = 0;
};
std::optional<ThresholdChoice> best_f1_threshold(const std::vector<float>& logits, const std::vector<uint8_t>& labels);

}  // namespace prospect::eval
