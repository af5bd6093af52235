// The run configuration: INI sections data, model, loss, optim, train, dist, eval (SPEC §1).
// Every key is declared once in config.cpp's table, which drives the INI parser, the command-line
// overrides (--optim.lr=3e-4), --help with defaults, and the dumps saved with runs and checkpoints.
//
// Command-line parsing (parse_args) is declared in args.h, so that only the programs see Boost.
#pragma once
#include <set>
#include <string>
#include <vector>

namespace prospect {

struct DataConfig {
  std::string train = "data/demo/train.h5";
  std::string val = "data/demo/val.h5";
  std::string test = "data/demo/test.h5";
  std::string tokenizer = "data/demo/tokenizer.model";
  std::string template_name = "plain";  // key: data.template  (llama3 | plain)
  std::string frames = "all";           // all | turns
  std::string system_prompt = "";       // used when a clip has no system turn ({goal}, {steps} filled in)
  int max_seq_len = 1024;
  double neg_frame_sampling_rate = 1.0;  // training only; validation and eval use 1.0
  bool dst_turns = true;                 // false: the no-DST baseline (DST_UPDATE turns left out)
  int virtual_ranks = 0;                 // 0: the world size
  bool skip_invalid = false;
  int prefetch = 2;                      // steps read ahead by the prefetch thread
};

struct ModelConfig {
  std::string init = "scratch";  // scratch | HF directory | one of our checkpoints
  int hidden_size = 256;
  int intermediate_size = 768;
  int num_hidden_layers = 4;
  int num_attention_heads = 4;
  int num_key_value_heads = 2;
  int vocab_size = 0;            // scratch: 0 = the tokenizer's size
  int feature_dim = 0;           // 0 = the store's embedding_dim
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = true;
  bool gradient_checkpointing = false;
  std::string freeze = "";       // comma-separated name patterns (regex) of frozen parameters
  std::string dtype = "auto";    // auto (fp32 on CPU, bf16 autocast on GPU) | fp32 | bf16
  std::string device = "auto";   // auto | cpu | cuda
  bool dst_state_head = false;   // the 3-class state head per step at decision points (SPEC §4)
  int dst_state_steps = 16;  // steps the state head has outputs for (with the head)
  int lora_rank = 0;             // LoRA rank r on the decoder's projections (0: full fine-tuning; model/lora.h)
  double lora_alpha = 16.0;      // LoRA scaling alpha / r
  double lora_dropout = 0.0;     // dropout on the LoRA branch's input
  std::string lora_targets = "q,k,v,o,gate,up,down";  // adapted projections
};

struct LossConfig {
  std::string decision = "bce";  // bce | focal
  double focal_alpha = 0.25;
  double focal_gamma = 2.0;
  double w_speaking_gen = 1.0;
  double w_speaking = 1.0;
  double w_dst_gen = 1.0;
  double w_dst_update = 1.0;
  std::string state_loss = "ce";  // state head loss: ce | focal (with model.dst_state_head)
  double state_focal_gamma = 2.0;
  double w_dst_state = 1.0;
};

struct OptimConfig {
  double lr = 1e-3;
  double min_lr = 1e-4;
  int warmup_steps = 50;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;
};

struct TrainConfig {
  int max_steps = 1000;
  int micro_batch_size = 4;
  int grad_accum = 1;
  bool pack = false;    // several windows per row up to data.max_seq_len (collate)
  int save_every = 200;
  int keep_last = 3;
  int seed = 1234;
  int threads = 0;      // 0: all cores divided by the ranks on this node
  int max_bad_steps = 5;
  int val_every = 200;  // 0: only at the end
  int log_every = 10;
  bool inexact_resume = false;  // resume even where the saved data order cannot be kept (SPEC §6)
};

struct DistConfig {
  double timeout_s = 300.0;
  double save_timeout_s = 3600.0;  // the peers' wait while rank 0 writes a checkpoint
  std::string backend = "auto";  // auto | mpi | nccl
  double bucket_mb = 25.0;
  bool overlap = true;
};

struct EvalConfig {
  double speak_threshold = 0.5;
  double dst_threshold = 0.5;
  double match_before_s = 2.0;
  double match_after_s = 4.0;
  int overflow_keep = 0;  // dst_refresh: 0 = half of what a window leaves after BOS + system + state
  std::string context_strategy = "dst_refresh";  // dst_refresh | drop_all | drop_middle | summarize_and_drop
  int reserved_tokens = 128;   // ProAssist strategies act when the context reaches max_seq_len - this
  int keep_last_tokens = 512;  // drop_middle: the most recent tokens kept
  int summary_max_tokens = 512;  // summarize_and_drop: tokens per summary at most
  int max_turns_per_frame = 4;
  int max_new_tokens = 64;
  std::string match = "window";  // window | proassist (eval/proassist_match.h)
  std::string sentence_encoder;  // proassist: a sentence-transformers folder (required there)
  std::string meteor_jar;        // METEOR 1.5 jar run with java ("": METEOR is null)
  std::string match_windows;     // proassist: "name=left:right,..." seconds ("": ProAssist's per dataset)
};

struct Config {
  DataConfig data;
  ModelConfig model;
  LossConfig loss;
  OptimConfig optim;
  TrainConfig train;
  DistConfig dist;
  EvalConfig eval;
  // The keys the user set (an INI file or the command line), as "section.key". A checkpoint's values
  // win over the defaults but not over these: a key set here that disagrees with it is an error.
  std::set<std::string> set_keys;
};
bool is_set(const Config& cfg, const std::string& key);  // the user set `key` (INI or command line)

// One key of the table: "section.key", help text, and its current value as text.
struct ConfigKey {
  std::string name;
  std::string help;
  std::string value;
};
std::vector<ConfigKey> config_keys(const Config& cfg);

// Reads an INI file (or text) into cfg; unknown keys / bad values throw UsageError.
void load_ini_file(const std::string& path, Config& cfg);
void load_ini_text(const std::string& text, Config& cfg);
std::string to_ini(const Config& cfg);  // every key, grouped by section; load_ini_text(to_ini(c)) == c
void check_config(const Config& cfg);   // value checks (enums, ranges): UsageError naming the key

}  // namespace prospect
