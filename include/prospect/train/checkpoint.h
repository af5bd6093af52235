// Checkpoints (SPEC §6): run_dir/checkpoints/step-000123/ holding
//   config.json, model.safetensors (HF names), prospect.safetensors (projector, heads)  [save_dst_model]
//   optimizer.safetensors   AdamW state (optim.h)
//   trainer.json            step, epoch, data cursor, RNG state, run config (INI), git revision, versions,
//                           template name, tokenizer file name
//   the tokenizer file      (a checkpoint alone is enough to evaluate or resume)
// Written by rank 0 into checkpoints/.tmp-step-000123, every file fsynced, the folder fsynced and
// renamed, then checkpoints/latest (a relative symlink) replaced atomically by rename. A kill at any
// moment leaves the previous checkpoint loadable. The newest keep_last are kept.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "prospect/core/config.h"
#include "prospect/train/optim.h"

namespace prospect {

// Where the data order and the loop stand after a step (everything the loop needs to go on exactly).
struct TrainerState {
  int64_t step = 0;           // optimizer steps done
  int64_t epoch = 0;          // epoch of the next step
  int64_t epoch_step = 0;     // steps of that epoch already done (the data cursor)
  int64_t bad_steps = 0;      // consecutive skipped steps
  int64_t tokens_seen = 0;
  std::string torch_rng;      // the CPU generator state, hex
};

nlohmann::json trainer_json(const TrainerState& s, const Config& cfg, int world_size);
TrainerState trainer_state_from_json(const nlohmann::json& j, const std::string& where);

std::string checkpoint_name(int64_t step);  // "step-000123"

// Writes a checkpoint (see above). write_model(dir) writes the model files into the temporary folder;
// the model must be finite (checked by the caller with all_finite). Returns the final folder.
std::string save_checkpoint(const std::string& run_dir, const TrainerState& state, const Config& cfg, int world_size,
                            const NamedParams& optimizer_state, const std::function<void(const std::string&)>& write_model,
                            const std::string& tokenizer_path);

// The folder `checkpoints/latest` points to, or "" when there is none.
std::string latest_checkpoint(const std::string& run_dir);
// Reads trainer.json of a checkpoint folder; errors name the file.
nlohmann::json read_trainer_json(const std::string& ckpt_dir);
// model.* keys of cfg that differ from the run config saved in the checkpoint: UsageError naming the
// first such key with both values.
void check_model_keys(const Config& cfg, const nlohmann::json& trainer, const std::string& ckpt_dir);

bool all_finite(const NamedParams& params);

std::string torch_rng_state_hex();
void set_torch_rng_state_hex(const std::string& hex);

}  // namespace prospect
