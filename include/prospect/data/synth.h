// The learnable synthetic procedural-task dataset (prospect_data synth): a few task types with named
// steps, one task per video, frame embeddings drawn around per-(task, step) prototypes, DST updates at
// step starts and completions, templated assistant instructions whose wording follows the step's
// position, user questions answered from the state. Writes train/val/test stores (disjoint videos),
// their clip JSON, and a SentencePiece tokenizer trained on the dataset's text. Deterministic for a seed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "prospect/data/clip.h"

namespace prospect {

struct SynthOptions {
  std::string out = "data/demo";
  int videos = 160;          // all splits; val and test get videos / 8 each
  int dim = 64;              // embedding dimension
  uint64_t seed = 1;
  double fps = 2.0;
  double noise = 0.35;       // per-frame noise around the prototypes (prototypes have unit variance)
  double question_rate = 0.3;  // chance of a user question during a step
  int vocab_size = 800;      // tokenizer (an upper bound: SentencePiece may make fewer)
  bool fp16 = true;          // on-disk type of the embeddings
  bool tokenizer = true;     // train the SentencePiece model
  bool progress = false;     // assistant turns carry ProAssist-style progress summaries (Turn::progress)
};

struct SynthVideo {
  std::string video_uid;
  int task = 0;
  std::vector<Clip> clips;
  std::vector<std::vector<float>> rows;  // per clip, [frames, dim]
};

struct SynthSummary {
  int64_t clips[3] = {0, 0, 0}, videos[3] = {0, 0, 0}, frames[3] = {0, 0, 0};  // train, val, test
  int64_t vocab_size = 0;
};

// The task catalogue: goals and step names.
struct SynthTask {
  std::string goal;
  std::vector<std::string> steps;
};
const std::vector<SynthTask>& synth_tasks();

// One video (its clips and rows) for a video index; used by synth_dataset and by tests.
SynthVideo synth_video(const SynthOptions& opt, int index);
// Writes everything under opt.out. Returns counts for the log.
SynthSummary synth_dataset(const SynthOptions& opt);

// Trains a SentencePiece model (unigram, <|eot|> as a user-defined symbol, BOS 1, EOS 2, identity
// normalisation, byte fallback) on the given lines; writes model_prefix.model / .vocab.
void train_sentencepiece(const std::vector<std::string>& lines, const std::string& model_prefix, int vocab_size);

}  // namespace prospect
