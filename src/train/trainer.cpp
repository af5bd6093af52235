// The training loop (trainer.h) as named steps: set_up() makes a Training (processes, data, model,
// optimizer, validation batches); the prefetch thread plans the data (StepPlanner, train_data.h);
// run_step() is one optimizer step; validate() and save() run between steps; run_training() strings
// them together.
//
// What the prefetch thread shares with the main thread. Its producer owns the StepPlanner (its shard
// plans and its copy of the data cursor); it reads, never writes, the configuration, the training split
// (clips and their videos are fixed after set-up; Store reads take the process-wide HDF5 mutex,
// core/hdf5.h, because the HDF5 library is not thread-safe), the chat template and the tokenizer
// (encode is const; the BPE tokenizer's word cache has its own mutex) and the sequence options. The
// main thread does not touch the planner, the store or the tokenizer while the prefetcher lives (the
// validation batches are made before it starts). Batches cross over only through the Prefetcher's
// queue (data/prefetch.h, under its mutex); an exception of the producer is rethrown by next().
#include "prospect/train/trainer.h"

#include <sys/resource.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "prospect/checkpoint/checkpoint.h"
#include "prospect/core/error.h"
#include "prospect/core/file.h"
#include "prospect/core/log.h"
#include "prospect/core/version.h"
#include "prospect/data/prefetch.h"
#include "prospect/data/shard.h"
#include "prospect/distributed/communicator.h"
#include "prospect/distributed/data_plane.h"
#include "prospect/distributed/reducer.h"
#include "prospect/distributed/signals.h"
#include "prospect/eval/teacher_forced.h"
#include "prospect/model/device.h"
#include "prospect/model/dst_model.h"
#include "prospect/text/tokenizer.h"
#include "prospect/train/losses.h"
#include "prospect/train/optim.h"
#include "train_data.h"

namespace fs = std::filesystem;

namespace prospect {

namespace {

using train::DataCursor;
using train::Split;
using train::StepData;
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

// ---------------------------------------------------------------- set-up

// Everything the loop works with, made once by set_up().
struct Training {
  const Config& cfg;
  const TrainArgs& args;
  // processes
  Communicator* comm;  // run_training's: the host plane (MPI or single), every host scalar
  std::unique_ptr<DataPlane> data;  // the data plane (NCCL or MPI): parameters and gradient buckets
  int rank = 0, world = 1, virtual_ranks = 1;
  // data
  std::unique_ptr<Tokenizer> tok;
  ChatTemplate tmpl;
  Split train, val;
  SeqOptions train_opt;
  std::vector<Batch> val_batches;  // this rank's share of the validation split, every idle frame kept
  // model and optimizer
  DSTProActLlama model{nullptr};
  ComputeDevice dev;  // model.device / model.dtype resolved (model/device.h)
  NamedParams all_params, trainable;
  std::unique_ptr<AdamW> optimizer;
  std::unique_ptr<Reducer> reducer;  // more than one process only
  // where the run stands
  TrainerState state;
  bool resumed = false;
  std::ofstream metrics;  // rank 0: run_dir/metrics.jsonl

  Training(const Config& cfg, const TrainArgs& args, Communicator& comm) : cfg(cfg), args(args), comm(&comm) {}
};

// The data order's virtual ranks (SPEC §2.3, §6). A fresh run: data.virtual_ranks, 0 meaning the process
// count. A resumed run keeps its checkpoint's whatever the process count, so the data order goes on as
// it would have: data.virtual_ranks = 0 takes the checkpoint's, another value must equal it. A resume
// that cannot keep it (another value asked for, or a process count that does not divide it) is refused
// unless train.inexact_resume, which goes on with the new count (another data order from here on).
// Refused resumes are usage errors, raised before anything is written; `note` is what to log.
struct VirtualRanks {
  int count = 1;
  std::string note;
  bool warn = false;  // the note is a warning (the data order changes)
};
VirtualRanks resolve_virtual_ranks(const Config& cfg, int world, const std::string& ckpt) {
  const int asked = cfg.data.virtual_ranks;
  int saved = 0, saved_world = 0;
  if (!ckpt.empty()) {
    Checkpoint ck = read_checkpoint(ckpt);
    saved_world = ck.world_size;
    if (ck.trainer && ck.trainer->virtual_ranks > 0) {
      saved = static_cast<int>(ck.trainer->virtual_ranks);
    } else if (ck.run_config) {  // written before trainer.json kept it: the run's setting
      Config run;
      load_ini_text(*ck.run_config, run);
      saved = run.data.virtual_ranks > 0 ? run.data.virtual_ranks : saved_world;
    }
  }
  VirtualRanks r;
  r.count = asked > 0 ? asked : saved > 0 ? saved : world;
  auto changes = [&](int to) {
    r.warn = true;
    r.note = fmt::format("resuming {} with {} virtual ranks instead of its {} (train.inexact_resume): the data order changes",
                         ckpt, to, saved);
  };
  if (saved > 0 && saved != r.count) {
    if (!cfg.train.inexact_resume)
      usage_fail("cannot resume {} exactly: its data order is defined for {} virtual ranks, data.virtual_ranks asks "
                 "for {}; leave data.virtual_ranks at 0 (or {}) to keep it, or set train.inexact_resume=true to go on "
                 "with another data order",
                 ckpt, saved, r.count, saved);
    changes(r.count);
  }
  if (r.count % world != 0) {
    if (saved != r.count) usage_fail("data.virtual_ranks = {} is not a multiple of the {} processes", r.count, world);
    if (!cfg.train.inexact_resume)
      usage_fail("cannot resume {} exactly with {} processes: its data order is defined for {} virtual ranks, which "
                 "{} processes cannot share; use a process count that divides {}, or set train.inexact_resume=true "
                 "to go on with {} virtual ranks (another data order)",
                 ckpt, world, saved, world, saved, world);
    r.count = world;
    changes(world);
  }
  if (!r.warn && saved > 0 && saved_world > 0 && saved_world != world)
    r.note = fmt::format("resuming a run of {} processes with {}: the same {} virtual ranks, the same data order",
                         saved_world, world, saved);
  return r;
}

// Processes, threads, the run folder and logging; returns the checkpoint to resume from ("" for none).
std::string set_up_processes(Training& t) {
  const Config& cfg = t.cfg;
  const std::string& run_dir = t.args.run_dir;
  PROSPECT_CHECK(t.args.resume.empty() || t.args.resume == "auto" || fs::is_directory(t.args.resume),
                 "--resume {}: no such checkpoint folder", t.args.resume);
  t.rank = t.comm->rank();
  t.world = t.comm->size();
  int threads = cfg.train.threads > 0 ? cfg.train.threads
                                      : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local_ranks(t.world));
  at::set_num_threads(threads);
  // before the first CUDA allocation, and before the run folder: a request that cannot be met leaves
  // nothing behind
  t.dev = select_device(cfg.model, node_local_rank(*t.comm));
  // dist.backend against the device, before anything is written (the plane itself comes in set_up_model)
  choose_data_backend(cfg.dist.backend, t.dev.device.is_cuda(), nccl_data_plane_available());

  // a fresh run needs an empty folder; --resume auto starts fresh when there is no checkpoint
  std::string ckpt;
  if (t.args.resume == "auto")
    ckpt = latest_checkpoint(run_dir);
  else if (!t.args.resume.empty())
    ckpt = fs::canonical(t.args.resume).string();
  if (t.args.resume.empty() && fs::exists(run_dir) && !fs::is_empty(run_dir))
    usage_fail("run folder {} is not empty: pass --resume auto to continue it, or choose another --run-dir", run_dir);
  const VirtualRanks vr = resolve_virtual_ranks(cfg, t.world, ckpt);
  t.virtual_ranks = vr.count;
  t.comm->barrier();  // every rank has looked before rank 0 writes
  if (t.rank == 0) make_dirs(run_dir + "/checkpoints");
  t.comm->barrier();
  init_logging(t.rank, false, t.rank == 0 ? run_dir + "/train.log" : "");
  if (!vr.note.empty()) vr.warn ? spdlog::warn("{}", vr.note) : spdlog::info("{}", vr.note);
  spdlog::info("prospect_train {} ({}): {} process(es), {} virtual ranks, {} threads each", prospect::version(),
               prospect::git_revision(), t.world, t.virtual_ranks, threads);
  return ckpt;
}

// The model (the checkpoint's when resuming: the checkpoint defines the model), on its device, the
// optimizer and, with several processes, the gradient reducer.
void set_up_model(Training& t, const std::string& ckpt, int64_t feature_dim) {
  const Config& cfg = t.cfg;
  std::vector<std::string> devices = t.comm->gather_bytes(t.dev.name, 0);
  for (size_t r = 0; r < devices.size(); ++r) spdlog::info("rank {} runs on {}", r, devices[r]);
  std::optional<Checkpoint> ck;
  if (!ckpt.empty()) {
    ck = read_checkpoint(ckpt);
    PROSPECT_CHECK(ck->trainer.has_value(), "checkpoint {}: missing trainer.json ({}/trainer.json)", ckpt, ckpt);
    check_model_config(cfg, *ck);
    t.state = *ck->trainer;
    t.model = load_checkpoint_model(*ck, feature_dim);
    check_state_head(cfg.model, *t.model, ck->dir);
    t.model->gradient_checkpointing = cfg.model.gradient_checkpointing;
    if (!cfg.model.freeze.empty()) freeze_parameters(*t.model, cfg.model.freeze);
    set_torch_rng_state_hex(t.state.torch_rng);
    t.resumed = true;
    spdlog::info("resuming from {} (step {})", ckpt, t.state.step);
  } else {
    int64_t base_vocab = cfg.model.vocab_size > 0 ? cfg.model.vocab_size : t.tok->vocab_size();
    t.model = make_dst_model(cfg.model, base_vocab, feature_dim, static_cast<uint64_t>(cfg.train.seed));
  }
  PROSPECT_CHECK(t.model->image_token_id >= t.tok->vocab_size(),
                 "the model's <image> id {} lies inside the tokenizer's vocabulary ({} ids)", t.model->image_token_id,
                 t.tok->vocab_size());
  t.model->to(t.dev.device);
  if (t.model->has_lora() && t.dev.bf16) {
    // LoRA: the frozen base is held in the compute dtype (no fp32 copy); the trained weights stay fp32
    torch::NoGradGuard ng;
    for (auto& p : t.model->named_parameters())
      if (!p.value().requires_grad() && (p.key().rfind("model.", 0) == 0 || p.key().rfind("lm_head.", 0) == 0))
        p.value().set_data(p.value().to(at::kBFloat16));
  }
  t.model->train();
  for (auto& p : t.model->named_parameters()) {
    t.all_params.emplace_back(p.key(), p.value());
    if (p.value().requires_grad()) t.trainable.emplace_back(p.key(), p.value());
  }
  t.optimizer = std::make_unique<AdamW>(t.trainable, cfg.optim);
  if (ck) t.optimizer->load_state(load_optimizer_state(*ck), ck->dir + "/optimizer.safetensors");
  t.data = make_data_plane(cfg.dist.backend, t.dev.device, *t.comm, cfg.dist.timeout_s);
  if (t.world > 1) {
    broadcast_parameters(*t.model, *t.comm, *t.data);
    t.reducer = std::make_unique<Reducer>(t.trainable, *t.data, ReducerOptions{cfg.dist.bucket_mb, 1.0, cfg.dist.overlap});
  }
  int64_t n_params = 0;
  for (auto& [n, p] : t.trainable) n_params += p.numel();
  spdlog::info("model: {} layers, hidden {}, vocab {} + <image> (id {}), {:.2f} M trainable parameters, {}",
               t.model->config.num_hidden_layers, t.model->config.hidden_size, t.model->config.vocab_size - 1,
               t.model->image_token_id, n_params / 1e6, t.dev.bf16 ? "bf16 autocast" : "fp32");
  if (t.model->has_lora()) {
    const LoraOptions& o = t.model->lora->options;
    spdlog::info("LoRA rank {} (alpha {}, dropout {}) on {}; the base {} is frozen{}", o.rank, o.alpha, o.dropout,
                 fmt::join(o.targets, ","), t.model->lora_base, t.dev.bf16 ? " and held in bf16" : "");
  }
}

// Validation batches: the validation clips sharded over the real ranks, every idle frame kept.
void make_val_batches(Training& t) {
  const Split& val = t.val;
  std::vector<int64_t> mine;
  for (size_t c = 0; c < val.clips.size(); ++c)
    if (val.clip_video[c] >= 0 && static_cast<int>(c % t.world) == t.rank) mine.push_back(static_cast<int64_t>(c));
  SeqOptions vopt = seq_options(t.cfg.data, static_cast<int32_t>(t.model->image_token_id), val.store->fps());
  vopt.state_steps = static_cast<int>(t.model->state_steps);
  const size_t mbs = t.cfg.train.micro_batch_size;
  for (size_t i = 0; i < mine.size(); i += mbs) {
    std::vector<int64_t> part(mine.begin() + i, mine.begin() + std::min(mine.size(), i + mbs));
    t.val_batches.push_back(train::make_batch(val, part, t.tmpl, vopt, Sampling{}));
  }
}

// Rank 0's metrics.jsonl, opened for append. On resume, the records of steps after the checkpoint's
// (written before a crash lost them) are dropped first, with any torn last line: the run writes those
// steps again, and every step appears once.
void open_metrics(Training& t) {
  const std::string path = t.args.run_dir + "/metrics.jsonl";
  if (t.resumed && fs::exists(path)) {
    std::ifstream in(path);
    std::string kept, line;
    int64_t dropped = 0;
    while (std::getline(in, line)) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() <= t.state.step)
        kept += line + "\n";
      else
        ++dropped;
    }
    if (dropped > 0) {
      write_file_atomic(path, kept);
      spdlog::info("{}: dropped {} records after step {} (the steps this run does again)", path, dropped, t.state.step);
    }
  }
  t.metrics.open(path, std::ios::app);
}

std::unique_ptr<Training> set_up(const Config& cfg, const TrainArgs& args, Communicator& comm) {
  auto t = std::make_unique<Training>(cfg, args, comm);
  std::string ckpt = set_up_processes(*t);
  PROSPECT_CHECK(fs::exists(cfg.data.tokenizer), "tokenizer not found: {} (data.tokenizer)", cfg.data.tokenizer);
  t->tok = load_tokenizer(cfg.data.tokenizer);
  t->tmpl = make_chat_template(cfg.data.template_name, *t->tok);
  t->train = train::open_split(cfg.data.train, cfg, cfg.model.feature_dim, "train", *t->comm);
  const int64_t feature_dim = cfg.model.feature_dim > 0 ? cfg.model.feature_dim : t->train.store->embedding_dim();
  t->val = train::open_split(cfg.data.val, cfg, feature_dim, "val", *t->comm);
  set_up_model(*t, ckpt, feature_dim);
  if (t->rank == 0) write_file_atomic(args.run_dir + "/config.ini", to_ini(config_as_trained(cfg, t->model)));
  t->train_opt = seq_options(cfg.data, static_cast<int32_t>(t->model->image_token_id), t->train.store->fps());
  t->train_opt.state_steps = static_cast<int>(t->model->state_steps);
  make_val_batches(*t);
  if (t->rank == 0) open_metrics(*t);
  return t;
}

// ---------------------------------------------------------------- one optimizer step

// The step's label counts and sizes over every micro-batch of every rank: summed over the ranks before
// the first backward, so each loss term is divided by its global count (SPEC §5).
struct StepTotals {
  double speaking_gen = 0, speaking = 0, dst_gen = 0, dst_update = 0;  // labelled positions per loss term
  double tokens = 0, sequences = 0;
  double dst_state = 0;  // (decision point, step) state labels (with the state head)
  double tokens_padded = 0;  // positions the model computed, padding included
};

// The step's loss and its four terms (losses.h), summed over micro-batches and ranks, and how many
// ranks saw a non-finite loss or gradient norm.
struct StepLosses {
  double loss = 0, speaking_gen = 0, speaking = 0, dst_gen = 0, dst_update = 0;
  double dst_state = 0;  // the state head's term (0 without it)
  double non_finite_ranks = 0;
};

struct StepResult {
  StepTotals totals;
  StepLosses losses;
  double grad_norm = 0;  // this rank's norm before clipping (the same on every rank after the reduction)
  double lr = 0;
  double comm_s = 0;     // waited in collectives: the three parts below
  double comm_counts_s = 0, comm_grad_s = 0, comm_loss_s = 0;  // label counts, finalize(), loss parts
  std::optional<double> gpu_peak_mb;  // the largest over the ranks of each GPU's peak allocated MB
  bool skipped = false;  // non-finite somewhere: no update on any rank
};

// Forward and backward over the step's micro-batches, the gradient reduction, clipping and AdamW (or a
// skip, on every rank alike, when any rank saw a non-finite value). Updates t.state.bad_steps; the
// caller advances the rest of the state.
StepResult run_step(Training& t, StepData& d) {
  const Config& cfg = t.cfg;
  StepResult r;
  r.totals = {double(d.counts.speaking_gen), double(d.counts.speaking), double(d.counts.dst_gen),
              double(d.counts.dst_update),   double(d.tokens),          double(d.sequences),
              double(d.counts.dst_state), double(d.tokens_padded)};
  auto tc = Clock::now();
  all_reduce_sum(*t.comm, &r.totals);
  r.comm_counts_s = seconds_since(tc);
  const LabelCounts global{int64_t(r.totals.speaking_gen), int64_t(r.totals.speaking), int64_t(r.totals.dst_gen),
                           int64_t(r.totals.dst_update), int64_t(r.totals.dst_state)};

  StepLosses& L = r.losses;
  // the step's micro-batches: grad_accum of each of this rank's virtual ranks, in order (train_data.h)
  const std::vector<int> my_virtual_ranks = virtual_ranks_of(t.rank, t.world, t.virtual_ranks);
  const size_t accum = std::max(1, cfg.train.grad_accum);
  for (size_t k = 0; k < d.batches.size(); ++k) {
    if (t.reducer) t.reducer->set_sync(k + 1 == d.batches.size());
    if (t.model->has_lora())  // the same masks for this micro-batch whatever process runs it (lora.h)
      t.model->lora->dropout_key = lora_dropout_key(cfg.train.seed, t.state.step, my_virtual_ranks.at(k / accum),
                                                    static_cast<int64_t>(k % accum));
    Batch b = to_device(std::move(d.batches[k]), t.dev.device);
    DSTOutput out;
    {
      AutocastGuard autocast(t.dev);
      out = t.model->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
    }
    LossTerms terms =
        compute_loss(out.speaking_logits, out.dst_logits, out.lm_logits, b, global, cfg.loss, out.state_logits);
    terms.loss.backward();
    L.loss += terms.loss.item<double>();
    L.speaking_gen += terms.speaking_gen, L.speaking += terms.speaking, L.dst_gen += terms.dst_gen;
    L.dst_update += terms.dst_update, L.dst_state += terms.dst_state;
  }
  if (t.reducer) r.comm_grad_s = t.reducer->finalize();
  r.grad_norm = clip_grad_norm(t.trainable, cfg.optim.grad_clip);
  L.non_finite_ranks = std::isfinite(L.loss) && std::isfinite(r.grad_norm) ? 0.0 : 1.0;
  tc = Clock::now();
  all_reduce_sum(*t.comm, &L);
  r.comm_loss_s = seconds_since(tc);
  r.comm_s = r.comm_counts_s + r.comm_grad_s + r.comm_loss_s;
  r.skipped = L.non_finite_ranks > 0 || !std::isfinite(L.loss);
  r.lr = lr_at(cfg.optim, t.state.step, cfg.train.max_steps);
  if (r.skipped) {
    ++t.state.bad_steps;
    spdlog::warn("step {}: non-finite loss ({}) or gradient norm ({}); step skipped ({} in a row, limit {})",
                 t.state.step + 1, L.loss, r.grad_norm, t.state.bad_steps, cfg.train.max_bad_steps);
    if (t.state.bad_steps >= cfg.train.max_bad_steps)
      fail("training diverged: {} consecutive steps with a non-finite loss or gradient norm (train.max_bad_steps)",
           t.state.bad_steps);
  } else {
    t.optimizer->step(r.lr);
    t.state.bad_steps = 0;
  }
  for (auto& [n, p] : t.trainable)
    if (p.grad().defined()) p.mutable_grad().zero_();
  r.gpu_peak_mb = peak_device_memory_mb(t.dev);  // the same on every rank: all on GPUs, or none
  if (r.gpu_peak_mb) t.comm->all_reduce(&*r.gpu_peak_mb, 1, DType::F64, ReduceOp::Max);
  return r;
}

// metrics.jsonl and, every train.log_every steps, the progress line (rank 0).
struct StepTiming {
  double step_s = 0, data_wait_s = 0;
  double eta_s = 0;
};
void log_step(Training& t, const StepResult& r, const StepTiming& time, bool progress_line) {
  if (t.rank != 0) return;
  const StepLosses& L = r.losses;
  nlohmann::json j = {{"step", t.state.step},          {"loss", L.loss},
                      {"loss_speaking_gen", L.speaking_gen}, {"loss_speaking", L.speaking},
                      {"loss_dst_gen", L.dst_gen},     {"loss_dst_update", L.dst_update},
                      {"lr", r.lr},                      {"grad_norm", r.grad_norm},
                      {"tokens", int64_t(r.totals.tokens)}, {"sequences", int64_t(r.totals.sequences)},
                      {"tokens_padded", int64_t(r.totals.tokens_padded)},
                      {"padding_share", PaddingCount{int64_t(r.totals.tokens), int64_t(r.totals.tokens_padded)}.padding_share()},
                      {"tokens_per_s", r.totals.tokens / time.step_s}, {"step_time_s", time.step_s},
                      {"data_wait_s", time.data_wait_s}, {"comm_s", r.comm_s},
                      {"comm_counts_s", r.comm_counts_s}, {"comm_grad_s", r.comm_grad_s},
                      {"comm_loss_s", r.comm_loss_s},
                      {"peak_rss_mb", peak_rss_mb()},  {"gpu_peak_mb", opt_json(r.gpu_peak_mb)},
                      {"skipped", r.skipped}};
  if (t.model->has_state_head()) j["loss_dst_state"] = L.dst_state;
  t.metrics << j.dump() << "\n" << std::flush;
  if (!progress_line) return;
  spdlog::info(
      "step {}/{} | loss {:.4f} (sg {:.4f} sb {:.4f} dg {:.4f} db {:.4f}) | lr {:.2e} | gnorm {:.3f} | {:.0f} tok/s | "
      "data {:.0f}% | comm {:.0f} ms | rss {:.0f} MB | ETA {:.0f}m{:02.0f}s",
      t.state.step, t.cfg.train.max_steps, L.loss, L.speaking_gen, L.speaking, L.dst_gen, L.dst_update, r.lr,
      r.grad_norm, r.totals.tokens / time.step_s, 100.0 * time.data_wait_s / time.step_s, 1000 * r.comm_s,
      peak_rss_mb(), std::floor(time.eta_s / 60), std::fmod(time.eta_s, 60.0));
}

// ---------------------------------------------------------------- between steps

// Teacher-forced validation on this rank's validation batches, counts summed over the ranks; rank 0
// writes the line to metrics.jsonl.
void validate(Training& t, int64_t step) {
  at::NoGradGuard no_grad;
  t.model->eval();
  eval::TeacherForcedCounts c;
  for (const Batch& vb : t.val_batches) {
    Batch b = to_device(vb, t.dev.device);
    AutocastGuard autocast(t.dev);
    DSTOutput out = t.model->forward(b.input_ids, b.attention_mask, b.frames, b.decision_index, b.lm_index);
    c += eval::teacher_forced_counts(out.speaking_logits, out.dst_logits, out.lm_logits, b,
                                     t.cfg.eval.speak_threshold, t.cfg.eval.dst_threshold, out.state_logits);
  }
  t.model->train();
  all_reduce_sum(*t.comm, &c);
  eval::TeacherForcedMetrics m = eval::teacher_forced_metrics(c);
  if (t.rank != 0) return;
  nlohmann::json j = {{"split", "val"},
                      {"step", step},
                      {"speaking_f1", opt_json(m.speaking_f1)},
                      {"dst_update_f1", opt_json(m.dst_update_f1)},
                      {"ppl_assistant", opt_json(m.ppl_assistant)},
                      {"ppl_dst", opt_json(m.ppl_dst)}};
  if (t.model->has_state_head()) j["state_accuracy"] = opt_json(m.state_accuracy);
  t.metrics << j.dump() << "\n" << std::flush;
  spdlog::info("val step {}: speaking F1 {} | DST update F1 {} | ppl assistant {} | ppl dst {}", step,
               j["speaking_f1"].dump(), j["dst_update_f1"].dump(), j["ppl_assistant"].dump(), j["ppl_dst"].dump());
}

// A checkpoint of the current state. Rank 0 writes it; the others wait for it, bounded by
// dist.save_timeout_s rather than dist.timeout_s (a large model's write to a network file system can
// take longer than any collective should). PROSPECT_TEST_SAVE_DELAY_S (seconds) delays rank 0's
// write: the tests' slow file system.
void save(Training& t) {
  t.state.torch_rng = torch_rng_state_hex();
  PROSPECT_CHECK(all_finite(t.all_params), "step {}: the model has non-finite weights; not saved", t.state.step);
  if (t.rank == 0) {
    if (const char* delay = std::getenv("PROSPECT_TEST_SAVE_DELAY_S"))
      std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(delay)));
    NamedParams optimizer_state = t.optimizer->state();
    CheckpointContents contents;
    contents.model = &t.model;
    contents.optimizer_state = &optimizer_state;
    contents.trainer = t.state;
    contents.run_config = &t.cfg;
    contents.layout = sequence_layout(
        t.cfg, SpecialIds{t.model->image_token_id, t.tok->bos_id(), t.tok->eos_id(), t.tmpl.end_of_turn});
    contents.tokenizer_path = t.cfg.data.tokenizer;
    contents.world_size = t.world;
    contents.trainer.virtual_ranks = t.virtual_ranks;
    spdlog::info("saved {}", save_checkpoint(t.args.run_dir, contents));
  }
  t.comm->barrier(t.cfg.dist.save_timeout_s, "dist.save_timeout_s");
}

int run_loop(const Config& cfg, const TrainArgs& args, Communicator& comm) {
  std::unique_ptr<Training> run = set_up(cfg, args, comm);
  Training& t = *run;
  TrainerState& state = t.state;
  const int64_t first_step = state.step, max_steps = cfg.train.max_steps;

  // The prefetch thread makes step first_step + i (see the note at the top of this file).
  train::StepPlanner planner(cfg, t.train, t.tmpl, t.train_opt, t.rank, t.world, t.virtual_ranks);
  Prefetcher<StepData> prefetch(
      [&planner, first_step, max_steps, cursor = DataCursor{state.epoch, state.epoch_step}](
          int64_t i) mutable -> std::optional<StepData> {
        if (first_step + i >= max_steps) return std::nullopt;
        StepData d = planner.step(cursor);
        cursor = d.next;
        return d;
      },
      std::max(1, cfg.data.prefetch));

  const auto run_t0 = Clock::now();
  int64_t last_saved = t.resumed ? state.step : -1, last_val = -1;
  double time_sum = 0;
  int64_t timed_steps = 0;
  while (state.step < max_steps) {
    const auto t0 = Clock::now();
    std::optional<StepData> d = prefetch.next();
    PROSPECT_CHECK(d.has_value(), "the data ended before step {}", state.step + 1);
    StepTiming time;
    time.data_wait_s = prefetch.last_wait_seconds();

    StepResult r = run_step(t, *d);
    ++state.step;
    state.epoch = d->next.epoch;
    state.epoch_step = d->next.epoch_step;
    state.tokens_seen += int64_t(r.totals.tokens);

    time.step_s = seconds_since(t0);
    time_sum += time.step_s;
    ++timed_steps;
    time.eta_s = (max_steps - state.step) * time_sum / timed_steps;
    log_step(t, r, time,
             state.step == first_step + 1 || state.step % std::max(1, cfg.train.log_every) == 0 || state.step == max_steps);

    if (state.step == args.stop_after_step) request_stop();
    if (stop_requested_agreed(*t.comm)) {
      save(t);
      throw StopRequested(fmt::format("stopped by a signal after step {}; checkpoint saved", state.step));
    }
    if (cfg.train.save_every > 0 && state.step % cfg.train.save_every == 0 && state.step < max_steps) {
      save(t);
      last_saved = state.step;
    }
    if (cfg.train.val_every > 0 && state.step % cfg.train.val_every == 0) {
      validate(t, state.step);
      last_val = state.step;
    }
  }
  if (last_val != state.step) validate(t, state.step);
  if (last_saved != state.step) save(t);
  spdlog::info("done: {} steps in {:.1f} s", state.step, seconds_since(run_t0));
  return kExitOk;
}

}  // namespace

// An error on one rank ends every rank at once, with its exit code and message in rank 0's log
// (run_ranks), instead of leaving the others waiting in their next collective until dist.timeout_s.
int run_training(const Config& cfg, const TrainArgs& args) {
  std::unique_ptr<Communicator> comm =
      launched_by_mpi() ? make_communicator(cfg.dist.backend, cfg.dist.timeout_s) : make_single_communicator();
  return run_ranks(*comm, [&] { return run_loop(cfg, args, *comm); });
}

}  // namespace prospect
