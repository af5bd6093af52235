#include "prospect/train/trainer.h"

#include <sys/resource.h>
#include <torch/cuda.h>

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "prospect/checkpoint/checkpoint.h"
#include "prospect/core/version.h"
#include "prospect/core/error.h"
#include "prospect/core/file.h"
#include "prospect/core/log.h"
#include "prospect/data/prefetch.h"
#include "prospect/data/shard.h"
#include "prospect/data/store.h"
#include "prospect/data/validate.h"
#include "prospect/dist/communicator.h"
#include "prospect/dist/reducer.h"
#include "prospect/dist/signals.h"
#include "prospect/eval/teacher_forced.h"
#include "prospect/model/dst_model.h"
#include "prospect/seq/collate.h"
#include "prospect/text/chat_template.h"
#include "prospect/text/tokenizer.h"
#include "prospect/train/losses.h"
#include "prospect/train/optim.h"

namespace fs = std::filesystem;

namespace prospect {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}

int local_ranks(int world) {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"})
    if (const char* s = std::getenv(v)) return std::max(1, std::atoi(s));
  return world;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

bool all_finite(const NamedParams& params) {
  for (auto& [name, p] : params)
    if (!at::isfinite(p).all().item<bool>()) return false;
  return true;
}

nlohmann::json opt_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

// One split: the store and its clips; clip_video[c] = -1 leaves a clip out (invalid and skipped).
struct Split {
  std::unique_ptr<Store> store;
  std::vector<Clip> clips;
  std::vector<int64_t> clip_video;
};

Split open_split(const std::string& path, const Config& cfg, int64_t feature_dim, const char* what) {
  PROSPECT_CHECK(fs::exists(path), "{} store not found: {} (data.{})", what, path, what);
  ValidateOptions vo;
  vo.expected_dim = feature_dim;
  vo.check_values = false;  // non-finite rows show up as non-finite losses (skipped steps)
  ValidationReport rep = validate_store(path, vo);
  if (!rep.readable) fail("{}", rep.problems.empty() ? path + ": not a readable prospect store" : format_problem(rep.problems[0], path));
  if (!rep.ok() && !cfg.data.skip_invalid) {
    std::string lines;
    int shown = 0;
    for (const Problem& p : rep.problems)
      if (p.severity == Severity::Error && shown++ < 5) lines += "\n  " + format_problem(p, path);
    fail("{}: invalid store ({} errors in {} clips; data.skip_invalid=true skips them):{}", path, rep.errors,
         rep.bad_clips.size(), lines);
  }
  Split s;
  s.store = std::make_unique<Store>(path);
  for (int64_t c = 0; c < s.store->num_clips(); ++c) {
    bool bad = rep.bad_clips.count(c) > 0;
    s.clips.push_back(bad ? Clip{} : s.store->clip(c));
    s.clip_video.push_back(bad ? -1 : s.store->clip_video(c));
  }
  if (!rep.bad_clips.empty()) spdlog::warn("{}: {} invalid clips skipped", path, rep.bad_clips.size());
  return s;
}

// All windows of some clips of a split, collated into one batch.
Batch make_batch(const Split& split, const std::vector<int64_t>& clips, const ChatTemplate& tmpl, const SeqOptions& opt,
                 const Sampling& sampling) {
  std::vector<Sequence> seqs;
  std::vector<int64_t> owner;
  std::map<int64_t, at::Tensor> rows;
  for (int64_t c : clips) {
    for (Sequence& s : make_sequences(split.clips[c], tmpl, opt, sampling)) {
      seqs.push_back(std::move(s));
      owner.push_back(c);
    }
    int64_t n = split.store->clip_rows(c), D = split.store->embedding_dim();
    at::Tensor t = at::empty({n, D}, at::kFloat);
    split.store->read_clip(c, t.data_ptr<float>());
    rows[c] = t;
  }
  PROSPECT_CHECK(!seqs.empty(), "a micro-batch of {} clips has no frames", clips.size());
  std::vector<const Sequence*> ptrs;
  std::vector<at::Tensor> frames;
  for (size_t i = 0; i < seqs.size(); ++i) {
    ptrs.push_back(&seqs[i]);
    frames.push_back(rows[owner[i]]);
  }
  return collate(ptrs, frames, 0);
}

// Every micro-batch this rank runs in one optimizer step, and where the data cursor goes next.
struct StepData {
  std::vector<Batch> batches;
  LabelCounts counts;
  int64_t tokens = 0, sequences = 0;
  int64_t next_epoch = 0, next_epoch_step = 0;
};

// bf16 autocast around forwards on CUDA (fp32 master weights and optimizer state stay as they are)
struct Autocast {
  bool on;
  explicit Autocast(bool on) : on(on) {
    if (!on) return;
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  }
  ~Autocast() {
    if (!on) return;
    at::autocast::set_enabled(false);
    at::autocast::clear_cache();
  }
};

}  // namespace

int run_training(const Config& cfg, const TrainArgs& args) {
  const std::string& run_dir = args.run_dir;
  PROSPECT_CHECK(args.resume.empty() || args.resume == "auto" || fs::is_directory(args.resume),
                 "--resume {}: no such checkpoint folder", args.resume);

  // ---- processes, threads, logging
  std::unique_ptr<Communicator> comm =
      launched_by_mpi() ? make_communicator(cfg.dist.backend, false, cfg.dist.timeout_s) : make_single_communicator();
  const int rank = comm->rank(), world = comm->size();
  const int vranks = cfg.data.virtual_ranks > 0 ? cfg.data.virtual_ranks : world;
  if (vranks % world != 0)
    usage_fail("data.virtual_ranks = {} is not a multiple of the {} processes", vranks, world);
  int threads = cfg.train.threads > 0 ? cfg.train.threads
                                      : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local_ranks(world));
  at::set_num_threads(threads);

  // ---- the run folder: a fresh run needs an empty one; --resume auto starts fresh when there is no checkpoint
  std::string ckpt;
  if (args.resume == "auto")
    ckpt = latest_checkpoint(run_dir);
  else if (!args.resume.empty())
    ckpt = fs::canonical(args.resume).string();
  if (args.resume.empty() && fs::exists(run_dir) && !fs::is_empty(run_dir))
    usage_fail("run folder {} is not empty: pass --resume auto to continue it, or choose another --run-dir", run_dir);
  comm->barrier();  // every rank has looked before rank 0 writes
  if (rank == 0) make_dirs(run_dir + "/checkpoints");
  comm->barrier();
  init_logging(rank, false, rank == 0 ? run_dir + "/train.log" : "");
  spdlog::info("prospect_train {} ({}): {} process(es), {} virtual ranks, {} threads each", prospect::version(),
               prospect::git_revision(), world, vranks, threads);

  // ---- tokenizer, template, data
  PROSPECT_CHECK(fs::exists(cfg.data.tokenizer), "tokenizer not found: {} (data.tokenizer)", cfg.data.tokenizer);
  std::unique_ptr<Tokenizer> tok = load_tokenizer(cfg.data.tokenizer);
  ChatTemplate tmpl = make_chat_template(cfg.data.template_name, *tok);
  Split train = open_split(cfg.data.train, cfg, cfg.model.feature_dim, "train");
  const int64_t feature_dim = cfg.model.feature_dim > 0 ? cfg.model.feature_dim : train.store->embedding_dim();
  Split val = open_split(cfg.data.val, cfg, feature_dim, "val");

  // ---- model and optimizer: the checkpoint defines the model
  TrainerState state;
  DSTProActLlama model{nullptr};
  std::optional<Checkpoint> ck;
  if (!ckpt.empty()) {
    ck = read_checkpoint(ckpt);
    PROSPECT_CHECK(ck->trainer.has_value(), "checkpoint {}: missing trainer.json ({}/trainer.json)", ckpt, ckpt);
    check_model_config(cfg, *ck);
    state = *ck->trainer;
    model = load_checkpoint_model(*ck, feature_dim);
    model->gradient_checkpointing = cfg.model.gradient_checkpointing;
    if (!cfg.model.freeze.empty()) freeze_parameters(*model, cfg.model.freeze);
    set_torch_rng_state_hex(state.torch_rng);
    spdlog::info("resuming from {} (step {})", ckpt, state.step);
  } else {
    int64_t base_vocab = cfg.model.vocab_size > 0 ? cfg.model.vocab_size : tok->vocab_size();
    model = make_dst_model(cfg.model, base_vocab, feature_dim, static_cast<uint64_t>(cfg.train.seed));
  }
  PROSPECT_CHECK(model->image_token_id >= tok->vocab_size(),
                 "the model's <image> id {} lies inside the tokenizer's vocabulary ({} ids)", model->image_token_id,
                 tok->vocab_size());
  const bool cuda = cfg.model.device == "cuda" || (cfg.model.device == "auto" && torch::cuda::is_available());
  const at::Device device = cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  model->to(device);
  model->train();
  const bool bf16 = cuda && (cfg.model.dtype == "bf16" || cfg.model.dtype == "auto");
  NamedParams all_params, trainable;
  for (auto& p : model->named_parameters()) {
    all_params.emplace_back(p.key(), p.value());
    if (p.value().requires_grad()) trainable.emplace_back(p.key(), p.value());
  }
  AdamW opt(trainable, cfg.optim);
  if (ck) opt.load_state(load_optimizer_state(*ck), ck->dir + "/optimizer.safetensors");
  std::unique_ptr<Reducer> reducer;
  if (world > 1) {
    broadcast_parameters(*model, *comm);
    reducer = std::make_unique<Reducer>(trainable, *comm, ReducerOptions{cfg.dist.bucket_mb, 1.0, cfg.dist.overlap});
  }
  int64_t n_params = 0;
  for (auto& [n, p] : trainable) n_params += p.numel();
  spdlog::info("model: {} layers, hidden {}, vocab {} + <image> (id {}), {:.2f} M trainable parameters, device {}",
               model->config.num_hidden_layers, model->config.hidden_size, model->config.vocab_size - 1,
               model->image_token_id, n_params / 1e6, cuda ? "cuda" : "cpu");

  if (rank == 0) {
    std::ofstream(run_dir + "/config.ini") << to_ini(cfg);
  }

  // ---- the data order: per epoch a shard plan over the virtual ranks, weights = tokens per video
  const SeqOptions sopt = seq_options(cfg.data, static_cast<int32_t>(model->image_token_id), train.store->fps());
  std::vector<double> video_weight(train.store->video_uids().size(), 0.0);
  for (size_t c = 0; c < train.clips.size(); ++c)
    if (train.clip_video[c] >= 0) video_weight[train.clip_video[c]] += clip_token_count(train.clips[c], tmpl, sopt);
  const std::vector<int> my_vranks = virtual_ranks_of(rank, world, vranks);
  const int accum = std::max(1, cfg.train.grad_accum);
  auto plan_of = [&, cache = std::map<int64_t, ShardPlan>()](int64_t epoch) mutable -> const ShardPlan& {
    auto it = cache.find(epoch);
    if (it != cache.end()) return it->second;
    cache.clear();
    ShardPlan p = make_shard_plan(train.clip_video, video_weight, vranks, cfg.train.micro_batch_size,
                                  static_cast<uint64_t>(cfg.train.seed), epoch);
    if (p.total_padding() > 0 && rank == 0)
      spdlog::info("epoch {}: {} micro-batches per virtual rank, {} padded with repeats", epoch,
                   p.micro_batches_per_rank(), p.total_padding());
    return cache.emplace(epoch, std::move(p)).first->second;
  };
  auto steps_in = [&](const ShardPlan& p) { return std::max<int64_t>(1, (p.micro_batches_per_rank() + accum - 1) / accum); };

  // the prefetch thread: step state.step + i
  int64_t cur_epoch = state.epoch, cur_epoch_step = state.epoch_step;
  const int64_t first_step = state.step, max_steps = cfg.train.max_steps;
  Prefetcher<StepData> prefetch(
      [&, cur_epoch, cur_epoch_step](int64_t i) mutable -> std::optional<StepData> {
        if (first_step + i >= max_steps) return std::nullopt;
        const ShardPlan& plan = plan_of(cur_epoch);
        const int64_t M = plan.micro_batches_per_rank();
        StepData d;
        Sampling sampling{static_cast<uint64_t>(cfg.train.seed), static_cast<uint64_t>(cur_epoch),
                          cfg.data.neg_frame_sampling_rate};
        for (int r : my_vranks)
          for (int k = 0; k < accum; ++k) {
            const auto& clips = plan.micro_batches[r][(cur_epoch_step * accum + k) % M];
            Batch b = make_batch(train, clips, tmpl, sopt, sampling);
            d.counts += b.counts;
            d.tokens += b.tokens;
            d.sequences += b.sequences;
            d.batches.push_back(std::move(b));
          }
        if (++cur_epoch_step >= steps_in(plan)) ++cur_epoch, cur_epoch_step = 0;
        d.next_epoch = cur_epoch;
        d.next_epoch_step = cur_epoch_step;
        return d;
      },
      std::max(1, cfg.data.prefetch));

  // validation batches: clips sharded over the real ranks, every idle frame kept
  std::vector<Batch> val_batches;
  {
    std::vector<int64_t> mine;
    for (size_t c = 0; c < val.clips.size(); ++c)
      if (val.clip_video[c] >= 0 && static_cast<int>(c % world) == rank) mine.push_back(static_cast<int64_t>(c));
    const SeqOptions vopt = seq_options(cfg.data, static_cast<int32_t>(model->image_token_id), val.store->fps());
    for (size_t i = 0; i < mine.size(); i += cfg.train.micro_batch_size) {
      std::vector<int64_t> part(mine.begin() + i, mine.begin() + std::min(mine.size(), i + cfg.train.micro_batch_size));
      val_batches.push_back(make_batch(val, part, tmpl, vopt, Sampling{}));
    }
  }

  std::ofstream metrics;
  if (rank == 0) metrics.open(run_dir + "/metrics.jsonl", std::ios::app);
  auto validate = [&](int64_t step) {
    at::NoGradGuard no_grad;
    model->eval();
    eval::TeacherForcedCounts c;
    for (const Batch& vb : val_batches) {
      Batch b = to_device(vb, device);
      Autocast ac(bf16);
      DSTOutput out = model->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
      c += eval::teacher_forced_counts(out.speaking_logits, out.dst_logits, out.lm_logits, b, cfg.eval.speak_threshold,
                                 cfg.eval.dst_threshold);
    }
    model->train();
    all_reduce_sum(*comm, &c);
    eval::TeacherForcedMetrics m = eval::teacher_forced_metrics(c);
    if (rank == 0) {
      nlohmann::json j = {{"split", "val"},
                          {"step", step},
                          {"speaking_f1", opt_json(m.speaking_f1)},
                          {"dst_update_f1", opt_json(m.dst_update_f1)},
                          {"ppl_assistant", opt_json(m.ppl_assistant)},
                          {"ppl_dst", opt_json(m.ppl_dst)}};
      metrics << j.dump() << "\n" << std::flush;
      spdlog::info("val step {}: speaking F1 {} | DST update F1 {} | ppl assistant {} | ppl dst {}", step,
                   j["speaking_f1"].dump(), j["dst_update_f1"].dump(), j["ppl_assistant"].dump(), j["ppl_dst"].dump());
    }
  };
  auto save = [&]() {
    state.torch_rng = torch_rng_state_hex();
    PROSPECT_CHECK(all_finite(all_params), "step {}: the model has non-finite weights; not saved", state.step);
    if (rank == 0) {
      NamedParams optimizer_state = opt.state();
      CheckpointContents contents;
      contents.model = &model;
      contents.optimizer_state = &optimizer_state;
      contents.trainer = state;
      contents.run_config = &cfg;
      contents.layout = sequence_layout(cfg);
      contents.tokenizer_path = cfg.data.tokenizer;
      contents.world_size = world;
      std::string dir = save_checkpoint(run_dir, contents);
      spdlog::info("saved {}", dir);
    }
    comm->barrier();
  };

  // ---- the loop
  const auto run_t0 = Clock::now();
  int64_t last_saved = ckpt.empty() ? -1 : state.step, last_val = -1;
  double time_sum = 0;
  int64_t timed_steps = 0;
  while (state.step < max_steps) {
    const auto t0 = Clock::now();
    std::optional<StepData> d = prefetch.next();
    PROSPECT_CHECK(d.has_value(), "the data ended before step {}", state.step + 1);
    const double data_wait = prefetch.last_wait_seconds();

    // the step's label counts over every micro-batch of every rank, before the first backward
    double g[6] = {double(d->counts.speaking_gen), double(d->counts.speaking), double(d->counts.dst_gen),
                   double(d->counts.dst_update), double(d->tokens), double(d->sequences)};
    auto tc = Clock::now();
    comm->all_reduce(g, 6, DType::F64, ReduceOp::Sum);
    double comm_s = seconds_since(tc);
    LabelCounts global{int64_t(g[0]), int64_t(g[1]), int64_t(g[2]), int64_t(g[3])};

    double parts[6] = {0, 0, 0, 0, 0, 0};  // loss, sg, sb, dg, db, non-finite flag
    for (size_t k = 0; k < d->batches.size(); ++k) {
      if (reducer) reducer->set_sync(k + 1 == d->batches.size());
      Batch b = to_device(std::move(d->batches[k]), device);
      DSTOutput out;
      {
        Autocast ac(bf16);
        out = model->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
      }
      LossTerms L = compute_loss(out.speaking_logits, out.dst_logits, out.lm_logits, b, global, cfg.loss);
      L.loss.backward();
      parts[0] += L.loss.item<double>();
      parts[1] += L.speaking_gen, parts[2] += L.speaking, parts[3] += L.dst_gen, parts[4] += L.dst_update;
    }
    if (reducer) comm_s += reducer->finalize();
    double grad_norm = clip_grad_norm(trainable, cfg.optim.grad_clip);
    parts[5] = std::isfinite(parts[0]) && std::isfinite(grad_norm) ? 0.0 : 1.0;
    tc = Clock::now();
    comm->all_reduce(parts, 6, DType::F64, ReduceOp::Sum);
    comm_s += seconds_since(tc);
    const bool bad = parts[5] > 0 || !std::isfinite(parts[0]);
    const double lr = lr_at(cfg.optim, state.step, max_steps);
    if (bad) {
      ++state.bad_steps;
      spdlog::warn("step {}: non-finite loss ({}) or gradient norm ({}); step skipped ({} in a row, limit {})",
                   state.step + 1, parts[0], grad_norm, state.bad_steps, cfg.train.max_bad_steps);
      if (state.bad_steps >= cfg.train.max_bad_steps)
        fail("training diverged: {} consecutive steps with a non-finite loss or gradient norm (train.max_bad_steps)",
             state.bad_steps);
    } else {
      opt.step(lr);
      state.bad_steps = 0;
    }
    for (auto& [n, p] : trainable)
      if (p.grad().defined()) p.mutable_grad().zero_();
    ++state.step;
    state.epoch = d->next_epoch;
    state.epoch_step = d->next_epoch_step;
    state.tokens_seen += int64_t(g[4]);

    const double step_time = seconds_since(t0);
    time_sum += step_time;
    ++timed_steps;
    if (rank == 0) {
      nlohmann::json j = {{"step", state.step},          {"loss", parts[0]},
                          {"loss_speaking_gen", parts[1]}, {"loss_speaking", parts[2]},
                          {"loss_dst_gen", parts[3]},     {"loss_dst_update", parts[4]},
                          {"lr", lr},                      {"grad_norm", grad_norm},
                          {"tokens", int64_t(g[4])},       {"sequences", int64_t(g[5])},
                          {"tokens_per_s", g[4] / step_time}, {"step_time_s", step_time},
                          {"data_wait_s", data_wait},      {"comm_s", comm_s},
                          {"peak_rss_mb", peak_rss_mb()},  {"skipped", bad}};
      metrics << j.dump() << "\n" << std::flush;
      if (state.step == first_step + 1 || state.step % std::max(1, cfg.train.log_every) == 0 || state.step == max_steps) {
        double eta = (max_steps - state.step) * time_sum / timed_steps;
        spdlog::info(
            "step {}/{} | loss {:.4f} (sg {:.4f} sb {:.4f} dg {:.4f} db {:.4f}) | lr {:.2e} | gnorm {:.3f} | {:.0f} tok/s | "
            "data {:.0f}% | comm {:.0f} ms | rss {:.0f} MB | ETA {:.0f}m{:02.0f}s",
            state.step, max_steps, parts[0], parts[1], parts[2], parts[3], parts[4], lr, grad_norm, g[4] / step_time,
            100.0 * data_wait / step_time, 1000 * comm_s, peak_rss_mb(), std::floor(eta / 60), std::fmod(eta, 60.0));
      }
    }

    if (state.step == args.stop_after_step) request_stop();
    if (stop_requested_agreed(*comm)) {
      save();
      throw StopRequested(fmt::format("stopped by a signal after step {}; checkpoint saved", state.step));
    }
    if (cfg.train.save_every > 0 && state.step % cfg.train.save_every == 0 && state.step < max_steps) {
      save();
      last_saved = state.step;
    }
    if (cfg.train.val_every > 0 && state.step % cfg.train.val_every == 0) {
      validate(state.step);
      last_val = state.step;
    }
  }
  if (last_val != state.step) validate(state.step);
  if (last_saved != state.step) save();
  spdlog::info("done: {} steps in {:.1f} s", state.step, seconds_since(run_t0));
  return kExitOk;
}

}  // namespace prospect
