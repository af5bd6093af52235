// The config table and everything it drives: INI files, the command line (args.h), --help, dumps.
#include "prospect/core/config.h"

#include <boost/program_options.hpp>

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <variant>

#include "prospect/core/args.h"
#include "prospect/core/error.h"

namespace po = boost::program_options;

namespace prospect {
namespace {

using FieldPtr = std::variant<int*, double*, bool*, std::string*>;
struct Field {
  const char* name;
  FieldPtr ptr;
  const char* help;
};

// The single list of keys. Adding a key: a field in config.h and one line here.
std::vector<Field> fields(Config& c) {
  return {
      {"data.train", &c.data.train, "training split store (.h5)"},
      {"data.val", &c.data.val, "validation split store (.h5)"},
      {"data.test", &c.data.test, "test split store (.h5)"},
      {"data.tokenizer", &c.data.tokenizer, "tokenizer.json (HF) or SentencePiece .model"},
      {"data.template", &c.data.template_name, "chat template: llama3 | plain"},
      {"data.frames", &c.data.frames, "frames in the stream: all | turns"},
      {"data.system_prompt", &c.data.system_prompt, "system text for clips without one ({goal}, {steps})"},
      {"data.max_seq_len", &c.data.max_seq_len, "tokens per window"},
      {"data.neg_frame_sampling_rate", &c.data.neg_frame_sampling_rate, "share of idle frames kept as negatives (training)"},
      {"data.dst_turns", &c.data.dst_turns, "false: no-DST baseline (DST_UPDATE turns left out)"},
      {"data.virtual_ranks", &c.data.virtual_ranks, "virtual ranks that define the data order (0: world size)"},
      {"data.skip_invalid", &c.data.skip_invalid, "skip (and count) clips that fail validation"},
      {"data.prefetch", &c.data.prefetch, "optimizer steps read ahead by the prefetch thread"},
      {"model.init", &c.model.init, "scratch | HF Llama directory | prospect checkpoint"},
      {"model.hidden_size", &c.model.hidden_size, "hidden size (scratch)"},
      {"model.intermediate_size", &c.model.intermediate_size, "MLP size (scratch)"},
      {"model.num_hidden_layers", &c.model.num_hidden_layers, "decoder layers (scratch)"},
      {"model.num_attention_heads", &c.model.num_attention_heads, "attention heads (scratch)"},
      {"model.num_key_value_heads", &c.model.num_key_value_heads, "key/value heads (scratch)"},
      {"model.vocab_size", &c.model.vocab_size, "vocabulary (scratch; 0: the tokenizer's)"},
      {"model.feature_dim", &c.model.feature_dim, "frame feature size (0: the store's embedding_dim)"},
      {"model.rms_norm_eps", &c.model.rms_norm_eps, "RMSNorm epsilon (scratch)"},
      {"model.rope_theta", &c.model.rope_theta, "rotary base (scratch)"},
      {"model.tie_word_embeddings", &c.model.tie_word_embeddings, "tie lm_head to the embeddings (scratch)"},
      {"model.gradient_checkpointing", &c.model.gradient_checkpointing, "recompute each decoder block in backward"},
      {"model.freeze", &c.model.freeze, "comma-separated regexes of parameter names to freeze"},
      {"model.dtype", &c.model.dtype, "auto | fp32 | bf16 (autocast, fp32 master weights)"},
      {"model.device", &c.model.device, "auto | cpu | cuda"},
      {"model.dst_state_head", &c.model.dst_state_head, "3-class state head (not_started/in_progress/completed) per step"},
      {"model.dst_state_steps", &c.model.dst_state_steps, "steps the state head covers (clips with more: error)"},
      {"model.lora_rank", &c.model.lora_rank, "LoRA rank on the decoder's projections (0: full fine-tuning)"},
      {"model.lora_alpha", &c.model.lora_alpha, "LoRA alpha (the branch is scaled by alpha / rank)"},
      {"model.lora_dropout", &c.model.lora_dropout, "dropout on the LoRA branch's input (training)"},
      {"model.lora_targets", &c.model.lora_targets, "LoRA'd projections: any of q,k,v,o,gate,up,down"},
      {"loss.decision", &c.loss.decision, "decision loss: bce | focal"},
      {"loss.focal_alpha", &c.loss.focal_alpha, "focal loss alpha"},
      {"loss.focal_gamma", &c.loss.focal_gamma, "focal loss gamma"},
      {"loss.w_speaking_gen", &c.loss.w_speaking_gen, "weight of the assistant LM loss"},
      {"loss.w_speaking", &c.loss.w_speaking, "weight of the speaking decision loss"},
      {"loss.w_dst_gen", &c.loss.w_dst_gen, "weight of the DST LM loss"},
      {"loss.w_dst_update", &c.loss.w_dst_update, "weight of the DST update decision loss"},
      {"loss.state_loss", &c.loss.state_loss, "state head loss: ce | focal (model.dst_state_head)"},
      {"loss.state_focal_gamma", &c.loss.state_focal_gamma, "focal gamma of the state head loss"},
      {"loss.w_dst_state", &c.loss.w_dst_state, "weight of the state head loss"},
      {"optim.lr", &c.optim.lr, "peak learning rate"},
      {"optim.min_lr", &c.optim.min_lr, "learning rate at the end of the cosine"},
      {"optim.warmup_steps", &c.optim.warmup_steps, "linear warmup steps"},
      {"optim.weight_decay", &c.optim.weight_decay, "AdamW weight decay (not on norms and biases)"},
      {"optim.beta1", &c.optim.beta1, "AdamW beta1"},
      {"optim.beta2", &c.optim.beta2, "AdamW beta2"},
      {"optim.eps", &c.optim.eps, "AdamW epsilon"},
      {"optim.grad_clip", &c.optim.grad_clip, "global gradient norm clip (0: off)"},
      {"train.max_steps", &c.train.max_steps, "optimizer steps"},
      {"train.micro_batch_size", &c.train.micro_batch_size, "sequences per micro-batch per virtual rank"},
      {"train.grad_accum", &c.train.grad_accum, "micro-batches per optimizer step per virtual rank"},
      {"train.pack", &c.train.pack, "pack several windows per row up to data.max_seq_len (less padding)"},
      {"train.save_every", &c.train.save_every, "steps between checkpoints (0: only at the end)"},
      {"train.keep_last", &c.train.keep_last, "checkpoints kept"},
      {"train.seed", &c.train.seed, "seed of initialisation, data order and sampling"},
      {"train.threads", &c.train.threads, "intra-op threads per rank (0: cores / local ranks)"},
      {"train.max_bad_steps", &c.train.max_bad_steps, "consecutive non-finite steps before giving up"},
      {"train.val_every", &c.train.val_every, "steps between validations (0: only at the end)"},
      {"train.log_every", &c.train.log_every, "steps between progress lines"},
      {"train.inexact_resume", &c.train.inexact_resume,
       "resume even when the run's data order cannot be kept (another data.virtual_ranks)"},
      {"dist.timeout_s", &c.dist.timeout_s, "seconds before a collective is declared stuck"},
      {"dist.save_timeout_s", &c.dist.save_timeout_s, "seconds the ranks wait for rank 0 to write a checkpoint"},
      {"dist.backend", &c.dist.backend, "auto | mpi | nccl"},
      {"dist.bucket_mb", &c.dist.bucket_mb, "gradient bucket size in MB"},
      {"dist.overlap", &c.dist.overlap, "reduce buckets while backward runs"},
      {"eval.speak_threshold", &c.eval.speak_threshold, "speak when sigmoid(speaking head) > this"},
      {"eval.dst_threshold", &c.eval.dst_threshold, "update the state when sigmoid(dst head) > this"},
      {"eval.match_before_s", &c.eval.match_before_s, "a prediction may come this early (s)"},
      {"eval.match_after_s", &c.eval.match_after_s, "a prediction may come this late (s)"},
      {"eval.overflow_keep", &c.eval.overflow_keep, "dst_refresh: tokens kept on overflow (0: half the room after the window head)"},
      {"eval.context_strategy", &c.eval.context_strategy, "on a full context: dst_refresh | drop_all | drop_middle | summarize_and_drop"},
      {"eval.reserved_tokens", &c.eval.reserved_tokens, "drop_all, drop_middle, summarize_and_drop act at max_seq_len - this"},
      {"eval.keep_last_tokens", &c.eval.keep_last_tokens, "drop_middle: the most recent tokens kept"},
      {"eval.summary_max_tokens", &c.eval.summary_max_tokens, "summarize_and_drop: tokens per summary at most"},
      {"eval.max_turns_per_frame", &c.eval.max_turns_per_frame, "generated turns per frame at most"},
      {"eval.max_new_tokens", &c.eval.max_new_tokens, "tokens per generated turn at most"},
      {"eval.match", &c.eval.match, "event matching: window (by time) | proassist (ProAssist's: meaning and time)"},
      {"eval.sentence_encoder", &c.eval.sentence_encoder, "sentence-transformers folder (required by eval.match=proassist)"},
      {"eval.meteor_jar", &c.eval.meteor_jar, "METEOR 1.5 jar, run with java (empty: METEOR is null)"},
      {"eval.match_windows", &c.eval.match_windows,
       "proassist windows name=left:right,... in s, name a substring of the clip's dataset or * (empty: ProAssist's)"},
  };
}

std::string value_text(const FieldPtr& p) {
  return std::visit(
      [](auto* v) -> std::string {
        using T = std::decay_t<decltype(*v)>;
        if constexpr (std::is_same_v<T, bool>) return *v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return *v;
        else if constexpr (std::is_same_v<T, double>) return fmt::format("{}", *v);
        else return std::to_string(*v);
      },
      p);
}

void add_options(po::options_description& desc, Config& cfg) {
  for (auto& f : fields(cfg)) {
    std::string shown = value_text(f.ptr);
    if (shown.empty()) shown = "\"\"";  // --help would print no default at all
    std::visit(
        [&](auto* v) {
          using T = std::decay_t<decltype(*v)>;
          desc.add_options()(f.name, po::value<T>(v)->default_value(*v, shown), f.help);
        },
        f.ptr);
  }
}

// INI values written as "true"/"false" and numbers; strings may be quoted.
std::string strip_quotes(std::string s) {
  if (s.size() >= 2 && ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\'')))
    return s.substr(1, s.size() - 2);
  return s;
}

void load_ini_stream(std::istream& in, const std::string& source, Config& cfg) {
  po::options_description desc;
  add_options(desc, cfg);
  po::variables_map vm;
  try {
    po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    usage_fail("{}: {}", source, e.what());
  }
  for (auto& f : fields(cfg)) {
    if (auto* s = std::get_if<std::string*>(&f.ptr)) **s = strip_quotes(**s);
    if (vm.count(f.name) && !vm[f.name].defaulted()) cfg.set_keys.insert(f.name);
  }
}

}  // namespace

std::vector<ConfigKey> config_keys(const Config& cfg) {
  std::vector<ConfigKey> out;
  for (auto& f : fields(const_cast<Config&>(cfg))) out.push_back({f.name, f.help, value_text(f.ptr)});
  return out;
}

bool is_set(const Config& cfg, const std::string& key) { return cfg.set_keys.count(key) > 0; }

void load_ini_file(const std::string& path, Config& cfg) {
  std::ifstream in(path);
  if (!in) usage_fail("config file not found: {}", path);
  load_ini_stream(in, path, cfg);
}

void load_ini_text(const std::string& text, Config& cfg) {
  std::istringstream in(text);
  load_ini_stream(in, "config text", cfg);
}

std::string to_ini(const Config& cfg) {
  std::string out, section;
  for (auto& k : config_keys(cfg)) {
    auto dot = k.name.find('.');
    std::string sec = k.name.substr(0, dot), key = k.name.substr(dot + 1);
    if (sec != section) {
      out += (section.empty() ? "" : "\n") + fmt::format("[{}]\n", sec);
      section = sec;
    }
    out += fmt::format("{} = {}\n", key, k.value);
  }
  return out;
}

void check_config(const Config& c) {
  auto one_of = [](const char* key, const std::string& v, std::initializer_list<const char*> ok) {
    for (auto* o : ok)
      if (v == o) return;
    std::string list;
    for (auto* o : ok) list += (list.empty() ? "" : " | ") + std::string(o);
    usage_fail("{}: expected {}, found '{}'", key, list, v);
  };
  auto positive = [](const char* key, double v) {
    if (!(v > 0)) usage_fail("{}: expected a positive value, found {}", key, v);
  };
  one_of("data.template", c.data.template_name, {"llama3", "plain"});
  one_of("data.frames", c.data.frames, {"all", "turns"});
  one_of("loss.decision", c.loss.decision, {"bce", "focal"});
  one_of("loss.state_loss", c.loss.state_loss, {"ce", "focal"});
  positive("model.dst_state_steps", c.model.dst_state_steps);
  if (c.model.lora_rank < 0) usage_fail("model.lora_rank: expected >= 0 (0: no LoRA), found {}", c.model.lora_rank);
  positive("model.lora_alpha", c.model.lora_alpha);
  if (!(c.model.lora_dropout >= 0 && c.model.lora_dropout < 1))
    usage_fail("model.lora_dropout: expected a value in [0, 1), found {}", c.model.lora_dropout);
  one_of("model.dtype", c.model.dtype, {"auto", "fp32", "bf16"});
  one_of("model.device", c.model.device, {"auto", "cpu", "cuda"});
  one_of("dist.backend", c.dist.backend, {"auto", "mpi", "nccl"});
  one_of("eval.match", c.eval.match, {"window", "proassist"});
  positive("data.max_seq_len", c.data.max_seq_len);
  if (c.data.neg_frame_sampling_rate < 0 || c.data.neg_frame_sampling_rate > 1)
    usage_fail("data.neg_frame_sampling_rate: expected a value in [0, 1], found {}", c.data.neg_frame_sampling_rate);
  if (c.data.virtual_ranks < 0) usage_fail("data.virtual_ranks: expected >= 0, found {}", c.data.virtual_ranks);
  positive("train.micro_batch_size", c.train.micro_batch_size);
  positive("train.grad_accum", c.train.grad_accum);
  if (c.train.max_steps < 0) usage_fail("train.max_steps: expected >= 0, found {}", c.train.max_steps);
  positive("train.keep_last", c.train.keep_last);
  positive("train.max_bad_steps", c.train.max_bad_steps);
  positive("dist.timeout_s", c.dist.timeout_s);
  positive("dist.save_timeout_s", c.dist.save_timeout_s);
  positive("dist.bucket_mb", c.dist.bucket_mb);
  positive("model.hidden_size", c.model.hidden_size);
  positive("model.num_hidden_layers", c.model.num_hidden_layers);
  positive("model.num_attention_heads", c.model.num_attention_heads);
  positive("model.num_key_value_heads", c.model.num_key_value_heads);
  if (c.model.hidden_size % c.model.num_attention_heads != 0)
    usage_fail("model.hidden_size ({}) must be a multiple of model.num_attention_heads ({})", c.model.hidden_size,
               c.model.num_attention_heads);
  if (c.model.num_attention_heads % c.model.num_key_value_heads != 0)
    usage_fail("model.num_attention_heads ({}) must be a multiple of model.num_key_value_heads ({})",
               c.model.num_attention_heads, c.model.num_key_value_heads);
  if (c.optim.lr < 0 || c.optim.min_lr < 0) usage_fail("optim.lr and optim.min_lr must be >= 0");
  if (c.eval.speak_threshold < 0 || c.eval.speak_threshold > 1) usage_fail("eval.speak_threshold: expected [0, 1], found {}", c.eval.speak_threshold);
  if (c.eval.dst_threshold < 0 || c.eval.dst_threshold > 1) usage_fail("eval.dst_threshold: expected [0, 1], found {}", c.eval.dst_threshold);
  if (c.eval.context_strategy != "dst_refresh" && c.eval.context_strategy != "drop_all" &&
      c.eval.context_strategy != "drop_middle" && c.eval.context_strategy != "summarize_and_drop")
    usage_fail("eval.context_strategy: expected dst_refresh, drop_all, drop_middle or summarize_and_drop, found '{}'",
               c.eval.context_strategy);
  if (c.eval.overflow_keep < 0) usage_fail("eval.overflow_keep: expected >= 0, found {}", c.eval.overflow_keep);
  if (c.eval.reserved_tokens < 0) usage_fail("eval.reserved_tokens: expected >= 0, found {}", c.eval.reserved_tokens);
  if (c.eval.keep_last_tokens < 0) usage_fail("eval.keep_last_tokens: expected >= 0, found {}", c.eval.keep_last_tokens);
  if (c.eval.summary_max_tokens <= 0) usage_fail("eval.summary_max_tokens: expected > 0, found {}", c.eval.summary_max_tokens);
}

bool parse_args(int argc, const char* const* argv, const std::string& usage, po::options_description& app_opts,
                Config* cfg, po::variables_map* vm) {
  po::options_description general("Options");
  general.add_options()("help,h", "print this help and exit");
  std::string config_path;
  if (cfg)
    general.add_options()("config", po::value<std::string>(&config_path)->default_value("", "\"\""),
                          "INI file with the keys below (empty: none)");
  po::options_description all;
  all.add(general).add(app_opts);
  po::options_description keys("Config keys (INI [section] key = value, or --section.key=value)");
  Config defaults = cfg ? *cfg : Config{};
  if (cfg) {
    add_options(keys, defaults);  // parse the command line into a copy: the INI is read first
    all.add(keys);
  }
  po::variables_map& m = *vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), m);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  if (m.count("help")) {
    std::cout << usage << "\n\n" << all << "\n";
    return false;
  }
  if (cfg) {
    if (!m["config"].as<std::string>().empty()) load_ini_file(m["config"].as<std::string>(), *cfg);
    // Only keys given on the command line override the INI.
    for (auto& f : fields(*cfg)) {
      if (!m.count(f.name) || m[f.name].defaulted()) continue;
      cfg->set_keys.insert(f.name);
      std::visit([&](auto* v) { *v = m[f.name].as<std::decay_t<decltype(*v)>>(); }, f.ptr);
    }
    check_config(*cfg);
  }
  try {
    po::notify(m);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return true;
}

}  // namespace prospect
