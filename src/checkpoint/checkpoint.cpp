// Writing and reading a checkpoint folder (checkpoint.h): the files, trainer.json, the atomic swap.
#include "prospect/checkpoint/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <H5public.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "prospect/core/error.h"
#include "prospect/core/file.h"
#include "prospect/core/version.h"
#include "prospect/model/dst_model.h"
#include "prospect/model/llama_config.h"

namespace fs = std::filesystem;

namespace prospect {

namespace {

const char* kTrainerFile = "trainer.json";
const char* kOptimizerFile = "optimizer.safetensors";
const char* kTokenizerConfigFile = "tokenizer_config.json";

nlohmann::json special_ids_json(const std::optional<SpecialIds>& ids) {
  if (!ids) return nullptr;
  return {{"image", ids->image}, {"bos", ids->bos}, {"eos", ids->eos}, {"end_of_turn", ids->end_of_turn}};
}

// trainer.json: the trainer state, the run, the sequence layout, the tokenizer, where it came from.
nlohmann::json trainer_json(const CheckpointContents& c) {
  const TrainerState& s = c.trainer;
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return {{"step", s.step},
          {"epoch", s.epoch},
          {"epoch_step", s.epoch_step},
          {"bad_steps", s.bad_steps},
          {"tokens_seen", s.tokens_seen},
          {"rng", {{"torch_cpu", s.torch_rng}, {"data_seed", c.run_config->train.seed}}},
          {"world_size", c.world_size},
          {"virtual_ranks", s.virtual_ranks},
          {"config", to_ini(config_as_trained(*c.run_config, *c.model))},
          {"template", c.layout.template_name},
          {"frames", c.layout.frames},
          {"dst_turns", c.layout.dst_turns},
          {"max_seq_len", c.layout.max_seq_len},
          {"system_prompt", c.layout.system_prompt},
          {"special_ids", special_ids_json(c.layout.special_ids)},
          {"tokenizer", fs::path(c.tokenizer_path).filename().string()},
          {"git_rev", git_revision()},
          {"versions",
           {{"prospect", version()}, {"torch", TORCH_VERSION}, {"hdf5", fmt::format("{}.{}.{}", maj, min, rel)}}}};
}

// The state keys: step, epoch and epoch_step are required; the others have defaults (older files).
TrainerState trainer_state_from_json(const nlohmann::json& j, const std::string& where) {
  TrainerState s;
  try {
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.epoch_step = j.at("epoch_step").get<int64_t>();
    s.bad_steps = j.value("bad_steps", int64_t{0});
    s.tokens_seen = j.value("tokens_seen", int64_t{0});
    s.virtual_ranks = j.value("virtual_ranks", int64_t{0});
    if (j.contains("rng")) s.torch_rng = j.at("rng").value("torch_cpu", std::string());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", where, e.what());
  }
  return s;
}

std::string json_string(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) fail("{}: field '{}' missing or not a string", where, key);
  return it->get<std::string>();
}

// The layout keys of trainer.json; a file written before they were recorded takes them from its run
// configuration (the data.* keys of the same names).
SequenceLayout layout_from_json(const nlohmann::json& j, const std::string& run_ini, const std::string& where) {
  Config run;
  try {
    load_ini_text(run_ini, run);
  } catch (const Error& e) {
    fail("{}: field 'config': {}", where, e.what());
  }
  SequenceLayout l = sequence_layout(run);
  l.template_name = json_string(j, "template", where);
  try {
    l.frames = j.value("frames", l.frames);
    l.dst_turns = j.value("dst_turns", l.dst_turns);
    l.max_seq_len = j.value("max_seq_len", l.max_seq_len);
    l.system_prompt = j.value("system_prompt", l.system_prompt);
    if (j.contains("special_ids") && !j["special_ids"].is_null()) {
      const nlohmann::json& ids = j["special_ids"];
      l.special_ids = SpecialIds{ids.at("image").get<int64_t>(), ids.at("bos").get<int64_t>(),
                                 ids.at("eos").get<int64_t>(), ids.at("end_of_turn").get<int64_t>()};
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", where, e.what());
  }
  return l;
}

void copy_file_atomic(const std::string& from, const std::string& to) {
  std::string bytes;
  PROSPECT_CHECK(read_file(from, &bytes), "cannot read {}", from);
  write_file_atomic(to, bytes);
}

// latest -> name, swapped atomically: a new link under a temporary name renamed over the old one.
void point_latest_to(const std::string& root, const std::string& name) {
  const std::string link_tmp = root + "/.latest.tmp";
  std::error_code ec;
  fs::remove(link_tmp, ec);
  fs::create_symlink(name, link_tmp, ec);
  PROSPECT_CHECK(!ec, "cannot create symlink {}: {}", link_tmp, ec.message());
  PROSPECT_CHECK(std::rename(link_tmp.c_str(), (root + "/latest").c_str()) == 0, "cannot replace {}/latest", root);
  fsync_path(root);
}

// Removes all but the newest `keep` step folders (never `current`), and every temporary folder (a
// leftover of an interrupted save, or the one a replaced step was served from).
void keep_newest(const std::string& root, int keep, const std::string& current) {
  std::vector<std::string> steps;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(root)) {
    std::string n = e.path().filename().string();
    if (e.is_directory() && !e.is_symlink() && n.rfind("step-", 0) == 0) steps.push_back(n);
    if (e.is_directory() && !e.is_symlink() && n.rfind(".tmp-", 0) == 0) fs::remove_all(e.path(), ec);
  }
  std::sort(steps.begin(), steps.end());
  for (size_t i = 0; i + keep < steps.size(); ++i)
    if (steps[i] != current) fs::remove_all(root + "/" + steps[i], ec);
}

// The test hook of checkpoint.h: PROSPECT_TEST_KILL_IN_SAVE=<point>:<step>.
const char* const kKillPoints[] = {"begun", "model", "optimizer", "trainer", "written", "replaced", "renamed", "latest"};

void kill_point(const char* point, int64_t step) {
  static const char* env = std::getenv("PROSPECT_TEST_KILL_IN_SAVE");
  if (!env || !*env) return;
  const std::string spec = env;
  const size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const bool known = std::any_of(std::begin(kKillPoints), std::end(kKillPoints), [&](const char* p) { return name == p; });
  int64_t at_step = -1;
  try {
    if (colon != std::string::npos) at_step = std::stoll(spec.substr(colon + 1));
  } catch (const std::exception&) {
  }
  PROSPECT_CHECK(known && at_step >= 0,
                 "PROSPECT_TEST_KILL_IN_SAVE={}: expected <point>:<step>, point one of begun, model, optimizer, "
                 "trainer, written, replaced, renamed, latest",
                 spec);
  if (name == point && at_step == step) std::raise(SIGKILL);
}

}  // namespace

SequenceLayout sequence_layout(const Config& cfg, std::optional<SpecialIds> special_ids) {
  SequenceLayout l;
  l.template_name = cfg.data.template_name;
  l.frames = cfg.data.frames;
  l.dst_turns = cfg.data.dst_turns;
  l.max_seq_len = cfg.data.max_seq_len;
  l.system_prompt = cfg.data.system_prompt;
  l.special_ids = special_ids;
  return l;
}

std::string checkpoint_name(int64_t step) { return fmt::format("step-{:06d}", step); }

std::string save_checkpoint(const std::string& run_dir, const CheckpointContents& c) {
  PROSPECT_CHECK(c.model && c.optimizer_state && c.run_config, "save_checkpoint: model, optimizer state and config are required");
  const std::string root = run_dir + "/checkpoints";
  make_dirs(root);
  const std::string name = checkpoint_name(c.trainer.step);
  const std::string final_dir = root + "/" + name;
  // a name no other save used (`latest` may point at an older temporary folder, see below)
  const std::string tmp_name = fmt::format(".tmp-{}-{}", name, std::chrono::system_clock::now().time_since_epoch().count());
  const std::string tmp = root + "/" + tmp_name;
  const int64_t step = c.trainer.step;
  make_dirs(tmp);
  kill_point("begun", step);

  save_dst_model(*c.model, tmp);
  kill_point("model", step);
  save_safetensors(tmp + "/" + kOptimizerFile, *c.optimizer_state, {{"format", "prospect-adamw"}});
  kill_point("optimizer", step);
  write_file_atomic(tmp + "/" + kTrainerFile, trainer_json(c).dump(2) + "\n");
  kill_point("trainer", step);
  if (!c.tokenizer_path.empty()) {
    copy_file_atomic(c.tokenizer_path, tmp + "/" + fs::path(c.tokenizer_path).filename().string());
    // the tokenizer's EOS is read from a tokenizer_config.json next to it (text/tokenizer.h)
    const fs::path tc = fs::path(c.tokenizer_path).parent_path() / kTokenizerConfigFile;
    if (fs::is_regular_file(tc)) copy_file_atomic(tc.string(), tmp + "/" + kTokenizerConfigFile);
  }
  fsync_path(tmp);
  kill_point("written", step);

  if (!fs::exists(final_dir)) {
    std::error_code ec;
    fs::rename(tmp, final_dir, ec);
    PROSPECT_CHECK(!ec, "cannot rename {} to {}: {}", tmp, final_dir, ec.message());
  } else {
    // The same step saved again (a run resumed from an older checkpoint): `latest` may point at the
    // old folder. It points at the new one under its temporary name while the old folder is replaced
    // by hard links to the new files, so it never points at a missing or half-written folder.
    point_latest_to(root, tmp_name);
    fs::remove_all(final_dir);
    kill_point("replaced", step);
    make_dirs(final_dir);
    for (auto& f : fs::directory_iterator(tmp)) {
      std::error_code ec;
      fs::create_hard_link(f.path(), final_dir + "/" + f.path().filename().string(), ec);
      PROSPECT_CHECK(!ec, "cannot link {} into {}: {}", f.path().string(), final_dir, ec.message());
    }
    fsync_path(final_dir);
  }
  fsync_path(root);
  kill_point("renamed", step);
  point_latest_to(root, name);
  kill_point("latest", step);
  keep_newest(root, std::max(1, c.run_config->train.keep_last), name);
  return final_dir;
}

Checkpoint read_checkpoint(const std::string& dir) {
  if (!fs::is_directory(dir)) fail("checkpoint folder not found: {}", dir);
  Checkpoint ck;
  ck.dir = fs::canonical(dir).string();  // latest -> step-N
  ck.has_optimizer_state = fs::exists(ck.dir + "/" + kOptimizerFile);
  const std::string path = ck.dir + "/" + kTrainerFile;
  if (!fs::exists(path)) return ck;  // a bare model folder
  std::string text;
  PROSPECT_CHECK(read_file(path, &text), "checkpoint {}: cannot read {}", ck.dir, path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  ck.trainer = trainer_state_from_json(j, path);
  ck.run_config = json_string(j, "config", path);
  if (j.contains("world_size") && j["world_size"].is_number_integer()) ck.world_size = j["world_size"].get<int>();
  ck.layout = layout_from_json(j, *ck.run_config, path);
  std::string tok = json_string(j, "tokenizer", path);
  ck.tokenizer_path = ck.dir + "/" + tok;
  if (tok.empty() || !fs::is_regular_file(ck.tokenizer_path))
    fail("checkpoint {}: tokenizer file missing ({})", ck.dir, ck.tokenizer_path);
  return ck;
}

std::string latest_checkpoint(const std::string& run_dir) {
  const std::string link = run_dir + "/checkpoints/latest";
  std::error_code ec;
  if (!fs::is_symlink(link, ec) && !fs::exists(link, ec)) return "";
  fs::path target = fs::canonical(link, ec);
  PROSPECT_CHECK(!ec, "{} points to a missing checkpoint", link);
  return target.string();
}

DSTProActLlama load_checkpoint_model(const Checkpoint& ck, int64_t feature_dim) {
  return load_dst_model(ck.dir, feature_dim);
}

TensorMap load_optimizer_state(const Checkpoint& ck) {
  const std::string path = ck.dir + "/" + kOptimizerFile;
  PROSPECT_CHECK(ck.has_optimizer_state, "checkpoint {}: no optimizer state ({})", ck.dir, path);
  return load_safetensors(path);
}

namespace {

// What the model's files say it is, as model.* keys (config.json; prospect.safetensors for the
// projector's input and the state head).
ModelConfig model_keys_of(const LlamaConfig& lm, int64_t image_token_id, int64_t feature_dim, int64_t state_steps,
                          ModelConfig m) {
  m.hidden_size = static_cast<int>(lm.hidden_size);
  m.intermediate_size = static_cast<int>(lm.intermediate_size);
  m.num_hidden_layers = static_cast<int>(lm.num_hidden_layers);
  m.num_attention_heads = static_cast<int>(lm.num_attention_heads);
  m.num_key_value_heads = static_cast<int>(lm.num_key_value_heads);
  m.vocab_size = static_cast<int>(image_token_id);  // the text vocabulary: <image> is the last row
  m.feature_dim = static_cast<int>(feature_dim);
  m.rms_norm_eps = lm.rms_norm_eps;
  m.rope_theta = lm.rope_theta;
  m.tie_word_embeddings = lm.tie_word_embeddings;
  m.dst_state_head = state_steps > 0;
  if (state_steps > 0) m.dst_state_steps = static_cast<int>(state_steps);
  return m;
}

ModelConfig checkpoint_model_keys(const Checkpoint& ck, const ModelConfig& base) {
  LlamaConfig lm = load_llama_config(ck.dir + "/config.json");
  std::map<std::string, std::string> meta;
  TensorMap heads = load_safetensors(ck.dir + "/prospect.safetensors", &meta);
  auto proj = heads.find("mm_projector.0.weight");
  PROSPECT_CHECK(proj != heads.end(), "checkpoint {}: prospect.safetensors has no mm_projector.0.weight", ck.dir);
  auto state = heads.find("dst_state_head.weight");
  const int64_t state_steps = state == heads.end() ? 0 : state->second.size(0) / 3;
  return model_keys_of(lm, lm.vocab_size - 1, proj->second.size(1), state_steps, base);
}

// The `keys` the user set in cfg against the checkpoint's values (`theirs`): one that disagrees is a
// UsageError naming it (or, in `warn_only`, a warning). Keys left unset take the checkpoint's value.
void check_set_keys(const Config& cfg, const Config& theirs_cfg, const std::vector<std::string>& keys,
                    const std::string& where, const std::vector<std::string>& warn_only = {}) {
  auto mine = config_keys(cfg), theirs = config_keys(theirs_cfg);
  std::set<std::string> checked(keys.begin(), keys.end());
  for (size_t i = 0; i < mine.size(); ++i) {
    const std::string& k = mine[i].name;
    if (!checked.count(k) || !is_set(cfg, k) || mine[i].value == theirs[i].value) continue;
    // 0 means "the tokenizer's" / "the store's": it names no other model
    if ((k == "model.vocab_size" || k == "model.feature_dim") && mine[i].value == "0") continue;
    if (std::find(warn_only.begin(), warn_only.end(), k) != warn_only.end()) {
      spdlog::warn("{} = {}, but {} was trained with {} = {}: {}", k, mine[i].value, where, k, theirs[i].value,
                   k == "data.frames" ? "streaming evaluation shows every frame whatever it says" : "kept");
      continue;
    }
    usage_fail("{} = {} disagrees with the checkpoint {} (which has {} = {}); the checkpoint defines it: leave {} "
               "unset to take the checkpoint's",
               k, mine[i].value, where, k, theirs[i].value, k);
  }
}

const std::vector<std::string> kModelKeys = {
    "model.hidden_size",  "model.intermediate_size", "model.num_hidden_layers", "model.num_attention_heads",
    "model.num_key_value_heads", "model.vocab_size", "model.feature_dim", "model.rms_norm_eps", "model.rope_theta",
    "model.tie_word_embeddings", "model.dst_state_head", "model.dst_state_steps"};

bool same_file_bytes(const std::string& a, const std::string& b) {
  std::string x, y;
  return read_file(a, &x) && read_file(b, &y) && x == y;
}

}  // namespace

Config config_as_trained(const Config& cfg, const DSTProActLlama& model) {
  Config out = cfg;
  out.model = model_keys_of(model->config, model->image_token_id, model->feature_dim, model->state_steps, cfg.model);
  return out;
}

void check_model_config(const Config& cfg, const Checkpoint& ck) {
  Config theirs = cfg;
  theirs.model = checkpoint_model_keys(ck, cfg.model);
  // dst_state_steps says nothing without the head
  std::vector<std::string> keys = kModelKeys;
  if (!theirs.model.dst_state_head) keys.pop_back();
  check_set_keys(cfg, theirs, keys, ck.dir);
}

Config checkpoint_config(const Config& cfg, const Checkpoint& ck) {
  check_model_config(cfg, ck);
  Config out = cfg;
  const bool state_steps_set = is_set(cfg, "model.dst_state_steps");
  out.model = checkpoint_model_keys(ck, cfg.model);
  if (!out.model.dst_state_head && state_steps_set) out.model.dst_state_steps = cfg.model.dst_state_steps;
  if (!ck.layout) return out;  // a bare model folder: the data.* keys are the user's
  const SequenceLayout& l = *ck.layout;
  Config theirs = out;
  theirs.data.template_name = l.template_name;
  theirs.data.frames = l.frames;
  theirs.data.dst_turns = l.dst_turns;
  theirs.data.max_seq_len = l.max_seq_len;
  theirs.data.system_prompt = l.system_prompt;
  check_set_keys(cfg, theirs,
                 {"data.template", "data.frames", "data.dst_turns", "data.max_seq_len", "data.system_prompt"}, ck.dir,
                 {"data.frames"});
  if (is_set(cfg, "data.tokenizer") && !same_file_bytes(cfg.data.tokenizer, ck.tokenizer_path))
    usage_fail("data.tokenizer = {} disagrees with the checkpoint {} ({} than its copy {}); the checkpoint defines "
               "it: leave data.tokenizer unset to take the checkpoint's",
               cfg.data.tokenizer, ck.dir, fs::is_regular_file(cfg.data.tokenizer) ? "other bytes" : "no such file",
               ck.tokenizer_path);
  out.data = theirs.data;
  out.data.tokenizer = ck.tokenizer_path;
  return out;
}

std::string torch_rng_state_hex() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  at::Tensor st = gen.get_state();
  std::string hex;
  const uint8_t* d = st.data_ptr<uint8_t>();
  for (int64_t i = 0; i < st.numel(); ++i) hex += fmt::format("{:02x}", d[i]);
  return hex;
}

void set_torch_rng_state_hex(const std::string& hex) {
  if (hex.empty()) return;
  at::Tensor st = at::empty({static_cast<int64_t>(hex.size() / 2)}, at::kByte);
  uint8_t* d = st.data_ptr<uint8_t>();
  for (size_t i = 0; i < hex.size() / 2; ++i) d[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(st);
}

}  // namespace prospect
