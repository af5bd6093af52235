// A checkpoint folder (SPEC §6) and the one module that writes and reads it. Training writes
//   run_dir/checkpoints/step-000123/
//     config.json, model.safetensors, prospect.safetensors   the model (save_dst_model, model/dst_model.h)
//     optimizer.safetensors                                   the optimizer's state (named tensors)
//     trainer.json                                            TrainerState, the run's configuration (INI),
//                                                             the SequenceLayout, the tokenizer's file name,
//                                                             git revision and library versions
//     <the tokenizer file>                                    a copy: the folder alone evaluates or resumes
//     tokenizer_config.json                                   a copy, when the tokenizer has one beside it
// into checkpoints/.tmp-step-000123-<time> (every file fsync'ed, the folder fsync'ed and renamed), then
// swaps checkpoints/latest (a relative symlink) by rename: a kill at any moment leaves the previous
// checkpoint loadable. A step saved again over its existing folder (a run resumed from an older
// checkpoint) points latest at the new folder's temporary name while the old folder is replaced by
// hard links to the new files. The newest train.keep_last are kept; temporary folders are removed.
//
// Evaluation also reads a bare model folder (save_dst_model's three files, no trainer.json): it has no
// trainer state, no layout and no tokenizer of its own, so the caller's configuration supplies them.
//
// What the folder holds is two structs of named fields: CheckpointContents (what save_checkpoint
// writes) and Checkpoint (what read_checkpoint finds). A new file (LoRA adapters, ...) or trainer.json
// key (another sequence-layout key, ...) is a field in each and one line in the writer and the reader.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "prospect/core/config.h"
#include "prospect/model/safetensors.h"  // NamedTensors, TensorMap

namespace prospect {

class DSTProActLlama;  // model/dst_model.h

// Where the data order and the loop stand after a step (everything the loop needs to go on exactly).
struct TrainerState {
  int64_t step = 0;           // optimizer steps done
  int64_t epoch = 0;          // epoch of the next step
  int64_t epoch_step = 0;     // steps of that epoch already done (the data cursor)
  int64_t bad_steps = 0;      // consecutive skipped steps
  int64_t tokens_seen = 0;
  int64_t virtual_ranks = 0;  // the data order's virtual ranks (data.virtual_ranks resolved; 0: not recorded)
  std::string torch_rng;      // the CPU generator state, hex (torch_rng_state_hex)
};

// The special token ids a run's sequences were made with. Evaluation makes them again from the
// checkpoint's tokenizer, template and model and refuses a checkpoint where they differ (a tokenizer
// read another way than in training would shift every id silently). -1: the tokenizer has none.
struct SpecialIds {
  int64_t image = -1;        // <image> (the model's image_token_id)
  int64_t bos = -1;          // the tokenizer's BOS
  int64_t eos = -1;          // the tokenizer's EOS
  int64_t end_of_turn = -1;  // the template's end of turn
};

// Everything that shaped the model's sequences (SPEC §3): evaluation lays them out the same way.
// trainer.json keys: "template" (data.template), "frames", "dst_turns", "max_seq_len",
// "system_prompt" (the data.* keys of the same names) and "special_ids"; the tokenizer is the
// checkpoint's copy. A checkpoint written before these keys takes them from its run configuration.
struct SequenceLayout {
  std::string template_name = "plain";
  std::string frames = "all";  // what training used; streaming evaluation shows every frame whatever this is
  bool dst_turns = true;
  int max_seq_len = 1024;
  std::string system_prompt;
  std::optional<SpecialIds> special_ids;  // absent in checkpoints written before they were recorded
};
// The layout a run with this configuration trains (special ids: what the trainer made them).
SequenceLayout sequence_layout(const Config& cfg, std::optional<SpecialIds> special_ids = std::nullopt);

// Everything save_checkpoint writes.
struct CheckpointContents {
  DSTProActLlama* model = nullptr;                 // config.json, model.safetensors, prospect.safetensors
  const NamedTensors* optimizer_state = nullptr;   // optimizer.safetensors
  TrainerState trainer;                            // trainer.json
  const Config* run_config = nullptr;              // trainer.json "config" (config_as_trained's INI); keep_last
  SequenceLayout layout;                           // trainer.json "template", "frames", ...
  std::string tokenizer_path;                      // copied in; trainer.json "tokenizer" = its file name
  int world_size = 1;                              // trainer.json "world_size"
};

// What read_checkpoint finds. The optional parts are absent in a bare model folder.
struct Checkpoint {
  std::string dir;                         // canonical (a `latest` link resolved)
  std::optional<TrainerState> trainer;     // trainer.json
  std::optional<std::string> run_config;   // trainer.json "config": the run's INI text
  std::optional<SequenceLayout> layout;    // trainer.json "template", "frames", ...
  std::string tokenizer_path;              // the folder's copy of the tokenizer ("" in a bare model folder)
  bool has_optimizer_state = false;        // optimizer.safetensors is there
  int world_size = 0;                      // trainer.json "world_size" (0: none)
};

std::string checkpoint_name(int64_t step);  // "step-000123"

// Writes run_dir/checkpoints/step-N (N = contents.trainer.step) as above; returns that folder. The
// model must be finite (the caller checks). Rank 0 only.
//
// Test hook: with PROSPECT_TEST_KILL_IN_SAVE=<point>:<step> in the environment, the process kills
// itself (SIGKILL, as a `kill -9` at that moment would) at <point> of the save of step <step>, so that
// a test can interrupt a save at each point in turn instead of at a guessed moment. The points, in the
// order of a save: begun (the temporary folder made, empty), model (the model's files written),
// optimizer, trainer (trainer.json), written (every file written and fsync'ed), replaced (an older
// folder of the same step removed, latest pointing at the temporary folder; only when the step is
// saved again), renamed (the folder has its final name), latest (the link swapped, older checkpoints
// not yet pruned). A value of another form is an error.
std::string save_checkpoint(const std::string& run_dir, const CheckpointContents& contents);

// Reads a checkpoint folder or a bare model folder (the model itself is read by load_checkpoint_model).
// Errors (Error, naming the file): no such folder, trainer.json not valid, its tokenizer missing.
Checkpoint read_checkpoint(const std::string& dir);
// The folder `run_dir/checkpoints/latest` points to, or "" when there is none.
std::string latest_checkpoint(const std::string& run_dir);

// The checkpoint's model (feature_dim 0: the file's; otherwise it must match) and optimizer state
// (Error when the folder has none).
DSTProActLlama load_checkpoint_model(const Checkpoint& ck, int64_t feature_dim = 0);
TensorMap load_optimizer_state(const Checkpoint& ck);

// The checkpoint defines the model and, for a training checkpoint, the sequence layout. These are the
// configuration a run from the checkpoint (an evaluation, a resume) goes on with: cfg with every
// model.* key that says what the model is (hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads, vocab_size, feature_dim, rms_norm_eps, rope_theta,
// tie_word_embeddings, dst_state_head, dst_state_steps) taken from the model's files (config.json,
// prospect.safetensors), whatever model.init made it from, and every SequenceLayout key (data.template,
// data.tokenizer = the checkpoint's copy, data.frames, data.dst_turns, data.max_seq_len,
// data.system_prompt) from trainer.json. A key the user set (Config::set_keys) that disagrees is a
// UsageError naming the key and both values; the one exception is data.frames, a logged warning,
// because streaming evaluation shows every frame whatever it says. data.tokenizer agrees when the
// files' bytes are equal. A bare model folder has no layout: the data.* keys stay the user's.
// model.init, freeze, gradient_checkpointing, device and dtype say how to run, not what the model is.
Config checkpoint_config(const Config& cfg, const Checkpoint& ck);
// The model.* part of checkpoint_config alone: UsageError for a set model key that disagrees.
void check_model_config(const Config& cfg, const Checkpoint& ck);
// cfg with the model.* keys above replaced by the model's own values: what trainer.json and the run's
// config.ini record, so that they describe the model even when model.init made it from a folder.
Config config_as_trained(const Config& cfg, const DSTProActLlama& model);

// The CPU generator's state as hex text (what TrainerState::torch_rng holds), and back ("" leaves it).
std::string torch_rng_state_hex();
void set_torch_rng_state_hex(const std::string& hex);

}  // namespace prospect
