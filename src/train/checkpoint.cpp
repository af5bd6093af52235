#include "prospect/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <H5public.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "prospect/core/file.h"
#include "prospect/core/version.h"
#include "prospect/core/error.h"
#include "prospect/model/safetensors.h"

namespace fs = std::filesystem;

namespace prospect {

std::string checkpoint_name(int64_t step) { return fmt::format("step-{:06d}", step); }

bool all_finite(const NamedParams& params) {
  for (auto& [name, p] : params)
    if (!at::isfinite(p).all().item<bool>()) return false;
  return true;
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

nlohmann::json trainer_json(const TrainerState& s, const Config& cfg, int world_size) {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return {{"step", s.step},
          {"epoch", s.epoch},
          {"epoch_step", s.epoch_step},
          {"bad_steps", s.bad_steps},
          {"tokens_seen", s.tokens_seen},
          {"rng", {{"torch_cpu", s.torch_rng}, {"data_seed", cfg.train.seed}}},
          {"world_size", world_size},
          {"config", to_ini(cfg)},
          {"template", cfg.data.template_name},
          {"tokenizer", fs::path(cfg.data.tokenizer).filename().string()},
          {"git_rev", git_revision()},
          {"versions",
           {{"prospect", version()}, {"torch", TORCH_VERSION}, {"hdf5", fmt::format("{}.{}.{}", maj, min, rel)}}}};
}

TrainerState trainer_state_from_json(const nlohmann::json& j, const std::string& where) {
  TrainerState s;
  try {
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.epoch_step = j.at("epoch_step").get<int64_t>();
    s.bad_steps = j.value("bad_steps", int64_t{0});
    s.tokens_seen = j.value("tokens_seen", int64_t{0});
    s.torch_rng = j.at("rng").value("torch_cpu", std::string());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", where, e.what());
  }
  return s;
}

namespace {

void copy_file_durable(const std::string& from, const std::string& to) {
  std::string bytes;
  PROSPECT_CHECK(read_file(from, &bytes), "cannot read {}", from);
  write_file_atomic(to, bytes);
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, const TrainerState& state, const Config& cfg, int world_size,
                            const NamedParams& optimizer_state, const std::function<void(const std::string&)>& write_model,
                            const std::string& tokenizer_path) {
  const std::string root = run_dir + "/checkpoints";
  make_dirs(root);
  const std::string name = checkpoint_name(state.step);
  const std::string final_dir = root + "/" + name;
  const std::string tmp = root + "/.tmp-" + name;
  std::error_code ec;
  fs::remove_all(tmp, ec);  // a leftover of an interrupted save
  make_dirs(tmp);

  write_model(tmp);
  save_safetensors(tmp + "/optimizer.safetensors", optimizer_state, {{"format", "prospect-adamw"}});
  write_file_atomic(tmp + "/trainer.json", trainer_json(state, cfg, world_size).dump(2) + "\n");
  if (!tokenizer_path.empty())
    copy_file_durable(tokenizer_path, tmp + "/" + fs::path(tokenizer_path).filename().string());
  fsync_path(tmp);

  if (fs::exists(final_dir)) fs::remove_all(final_dir);  // the same step saved again (e.g. stop right after a save)
  fs::rename(tmp, final_dir, ec);
  PROSPECT_CHECK(!ec, "cannot rename {} to {}: {}", tmp, final_dir, ec.message());
  fsync_path(root);

  // latest -> step-N, swapped atomically: a new link under a temporary name renamed over the old
  const std::string link_tmp = root + "/.latest.tmp";
  fs::remove(link_tmp, ec);
  fs::create_symlink(name, link_tmp, ec);
  PROSPECT_CHECK(!ec, "cannot create symlink {}: {}", link_tmp, ec.message());
  PROSPECT_CHECK(std::rename(link_tmp.c_str(), (root + "/latest").c_str()) == 0, "cannot replace {}/latest", root);
  fsync_path(root);

  // keep the newest keep_last
  std::vector<std::string> steps;
  for (auto& e : fs::directory_iterator(root)) {
    std::string n = e.path().filename().string();
    if (e.is_directory() && !e.is_symlink() && n.rfind("step-", 0) == 0) steps.push_back(n);
  }
  std::sort(steps.begin(), steps.end());
  int keep = std::max(1, cfg.train.keep_last);
  for (size_t i = 0; i + keep < steps.size(); ++i)
    if (steps[i] != name) fs::remove_all(root + "/" + steps[i], ec);
  return final_dir;
}

std::string latest_checkpoint(const std::string& run_dir) {
  const std::string link = run_dir + "/checkpoints/latest";
  std::error_code ec;
  if (!fs::is_symlink(link, ec) && !fs::exists(link, ec)) return "";
  fs::path target = fs::canonical(link, ec);
  PROSPECT_CHECK(!ec, "{} points to a missing checkpoint", link);
  return target.string();
}

nlohmann::json read_trainer_json(const std::string& ckpt_dir) {
  const std::string path = ckpt_dir + "/trainer.json";
  std::ifstream in(path);
  PROSPECT_CHECK(in.good(), "checkpoint {}: missing trainer.json ({})", ckpt_dir, path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
}

void check_model_keys(const Config& cfg, const nlohmann::json& trainer, const std::string& ckpt_dir) {
  Config saved;
  load_ini_text(trainer.at("config").get<std::string>(), saved);
  auto mine = config_keys(cfg);
  auto theirs = config_keys(saved);
  for (size_t i = 0; i < mine.size(); ++i) {
    const std::string& k = mine[i].name;
    if (k.rfind("model.", 0) != 0) continue;
    if (k == "model.init" || k == "model.freeze" || k == "model.gradient_checkpointing" || k == "model.device" ||
        k == "model.dtype")
      continue;  // how to run, not what the model is
    if (mine[i].value != theirs[i].value)
      usage_fail("{} = {} disagrees with the checkpoint {} (which has {} = {}); the checkpoint defines the model",
                 k, mine[i].value, ckpt_dir, k, theirs[i].value);
  }
}

}  // namespace prospect
