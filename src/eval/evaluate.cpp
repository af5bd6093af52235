// prospect_eval's set-up (the checkpoint, the split) and its streaming mode (SPEC §8); the
// teacher-forced mode is in evaluate_teacher_forced.cpp.
#include "prospect/eval/evaluate.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "eval_inputs.h"
#include "prospect/core/file.h"
#include "prospect/data/validate.h"
#include "prospect/distributed/data_plane.h"
#include "prospect/eval/kv_cache_model.h"
#include "prospect/eval/meteor.h"
#include "prospect/eval/proassist_eval.h"
#include "prospect/eval/sentence_embedder.h"
#include "prospect/eval/stream.h"

namespace prospect::eval {

EvalSetup make_eval_setup(const Config& cfg, const std::string& checkpoint_dir, const std::string& split,
                          const std::string& out_dir) {
  EvalSetup s;
  s.cfg = cfg;
  s.split = split;
  s.store_path = split == "train" ? cfg.data.train : split == "val" ? cfg.data.val : cfg.data.test;
  s.out_dir = out_dir;
  s.checkpoint = read_checkpoint(checkpoint_dir);
  // The checkpoint defines the model and how its sequences are laid out (SPEC §6): a no-DST baseline
  // is evaluated without DST turns and never asks its untrained DST head, whatever the defaults say.
  s.cfg = checkpoint_config(cfg, s.checkpoint);
  s.layout = sequence_layout(s.cfg);
  if (s.checkpoint.layout) s.layout.special_ids = s.checkpoint.layout->special_ids;
  s.tokenizer_path = s.cfg.data.tokenizer;
  if (cfg.eval.match == "proassist") {
    if (cfg.eval.sentence_encoder.empty())
      usage_fail("eval.sentence_encoder: eval.match=proassist needs a sentence-transformers folder "
                 "(e.g. all-mpnet-base-v2, ProAssist's)");
    if (!std::filesystem::is_directory(cfg.eval.sentence_encoder))
      usage_fail("eval.sentence_encoder: {} is not a folder (a sentence-transformers model folder)",
                 cfg.eval.sentence_encoder);
    s.match_windows = parse_match_windows(cfg.eval.match_windows);
  }
  const std::string& jar = cfg.eval.meteor_jar;
  if (!jar.empty() && !(std::filesystem::is_regular_file(jar) && std::ifstream(jar, std::ios::binary).good()))
    usage_fail("eval.meteor_jar: {} is not a readable file (the METEOR 1.5 jar)", cfg.eval.meteor_jar);
  if (!jar.empty() && cfg.eval.match != "proassist")
    spdlog::info("eval.meteor_jar is read by eval.match=proassist only; eval.match={} reports no METEOR", cfg.eval.match);
  return s;
}

nlohmann::json eval_config_json(const EvalSetup& s) {
  const Config& c = s.cfg;
  nlohmann::json j;
  j["split"] = s.split;
  j["checkpoint_step"] = s.checkpoint.trainer ? s.checkpoint.trainer->step : int64_t{-1};
  j["template"] = s.layout.template_name;
  j["data"] = {{"frames", c.data.frames},
               {"max_seq_len", c.data.max_seq_len},
               {"dst_turns", c.data.dst_turns},
               {"system_prompt", c.data.system_prompt}};
  j["eval"] = {{"speak_threshold", c.eval.speak_threshold},
               {"dst_threshold", c.eval.dst_threshold},
               {"match_before_s", c.eval.match_before_s},
               {"match_after_s", c.eval.match_after_s},
               {"overflow_keep", c.eval.overflow_keep},
               {"context_strategy", c.eval.context_strategy},
               {"reserved_tokens", c.eval.reserved_tokens},
               {"keep_last_tokens", c.eval.keep_last_tokens},
               {"summary_max_tokens", c.eval.summary_max_tokens},
               {"max_turns_per_frame", c.eval.max_turns_per_frame},
               {"max_new_tokens", c.eval.max_new_tokens},
               {"match", c.eval.match}};
  if (c.eval.match == "proassist") j["eval"]["match_windows"] = c.eval.match_windows;
  return j;
}

namespace {

StreamTemplate stream_template(const ChatTemplate& tmpl) {
  StreamTemplate t;
  t.assistant_header = tmpl.header(Role::Assistant);
  t.dst_header = tmpl.header(Role::DstUpdate);
  t.end_of_turn = tmpl.end_of_turn;
  const Tokenizer* tok = tmpl.tok;
  t.decode = [tok](const std::vector<int32_t>& ids) { return tok->decode(ids); };
  t.state_turn = [&tmpl](const std::vector<std::pair<std::string, StepState>>& st) { return state_turn_ids(st, tmpl); };
  t.system_turn = [&tmpl](const std::string& text) { return tmpl.turn(Role::System, text); };
  return t;
}

StreamOptions stream_options(const Config& c) {
  StreamOptions o;
  o.speak_threshold = c.eval.speak_threshold;
  o.dst_threshold = c.eval.dst_threshold;
  o.use_dst = c.data.dst_turns;
  o.max_turns_per_frame = c.eval.max_turns_per_frame;
  o.max_new_tokens = c.eval.max_new_tokens;
  o.max_seq_len = c.data.max_seq_len;
  o.overflow_keep = c.eval.overflow_keep;
  o.strategy = parse_context_strategy(c.eval.context_strategy);
  o.reserved_tokens = c.eval.reserved_tokens;
  o.keep_last_tokens = c.eval.keep_last_tokens;
  o.summary_max_tokens = c.eval.summary_max_tokens;
  return o;
}

}  // namespace

StreamClip stream_input(const Clip& clip, const std::vector<float>& rows, int64_t dim, double fps,
                        const ChatTemplate& tmpl, const SeqOptions& opt) {
  StreamClip sc;
  sc.clip_id = clip.id();
  sc.prefix = prefix_ids(clip, tmpl, opt);
  if (tmpl.tok && tmpl.tok->bos_id() >= 0) sc.bos = {tmpl.tok->bos_id()};
  std::vector<std::string> sys = system_texts(clip, opt);
  sc.system_text = sys.front();
  for (size_t i = 1; i < sys.size() && sc.knowledge.empty(); ++i)
    if (sys[i].find("Task knowledge:") != std::string::npos) sc.knowledge = sys[i];
  // Every frame, whatever data.frames trained on: `turns` keeps the frames of the reference turns,
  // which would tell the model where the events are.
  SeqOptions all = opt;
  all.frames = "all";
  for (const StreamItem& it : stream_items(clip, all)) {
    if (it.is_frame) {
      sc.items.push_back({true, it.frame, {}});
    } else if (clip.conversation[it.turn].role == Role::User) {
      sc.items.push_back({false, it.frame, turn_ids(clip.conversation[it.turn], tmpl)});
    }
  }
  sc.steps = step_ids(clip);
  sc.initial_state = initial_state(clip, fps);
  for (const Event& e : reference_events(clip))
    if (e.role == EventRole::DstUpdate && e.id) sc.reference_updates.push_back({e.frame, {*e.id, e.transition}});
  sc.embeddings = rows.data();
  sc.first_frame = clip.start_frame_idx;
  sc.dim = dim;
  return sc;
}

std::unique_ptr<EvalInputs> open_eval_inputs(const EvalSetup& s, Communicator& comm) {
  const Config& cfg = s.cfg;
  if (cfg.train.threads > 0) at::set_num_threads(cfg.train.threads);
  auto o = std::make_unique<EvalInputs>();
  o->dev = select_device(cfg.model, node_local_rank(comm));  // before the first CUDA allocation
  // No gradients, no parameters to broadcast: evaluation needs no data plane, and its gather stays on
  // the host plane (MPI). dist.backend must still be one the device can meet (nccl needs a GPU).
  const std::string data_backend =
      choose_data_backend(cfg.dist.backend, o->dev.device.is_cuda(), nccl_data_plane_available());
  spdlog::info("dist.backend={} ({} on this device): evaluation exchanges host data only, over {}", cfg.dist.backend,
               data_backend, comm.backend());
  std::vector<std::string> devices = comm.gather_bytes(o->dev.name, 0);
  for (size_t r = 0; r < devices.size(); ++r)
    spdlog::info("rank {} runs on {}{}", r, devices[r], o->dev.bf16 ? " (bf16 autocast)" : "");
  o->store = std::make_unique<Store>(s.store_path);
  o->model = load_checkpoint_model(s.checkpoint);
  o->model->to(o->dev.device);
  o->model->eval();
  check_state_head(cfg.model, *o->model, s.checkpoint.dir);
  if (o->model->feature_dim != o->store->embedding_dim())
    fail("split '{}' ({}): frame embeddings have dimension {}, but the model of {} takes {} (model.feature_dim)",
         s.split, s.store_path, o->store->embedding_dim(), s.checkpoint.dir, o->model->feature_dim);
  o->tok = load_tokenizer(s.tokenizer_path);
  if (o->tok->vocab_size() > o->model->image_token_id)
    fail("tokenizer {} has {} tokens, but the model of {} has {} text tokens (its <image> id)", s.tokenizer_path,
         o->tok->vocab_size(), s.checkpoint.dir, o->model->image_token_id);
  o->tmpl = make_chat_template(s.layout.template_name, *o->tok);
  if (const auto& ids = s.layout.special_ids) {
    const SpecialIds now{o->model->image_token_id, o->tok->bos_id(), o->tok->eos_id(), o->tmpl.end_of_turn};
    auto same = [&](const char* what, int64_t trained, int64_t here) {
      if (trained != here)
        fail("checkpoint {}: the {} id is {} here but was {} in training (tokenizer {}, template {}): the sequences "
             "would not be the ones the model learned",
             s.checkpoint.dir, what, here, trained, s.tokenizer_path, s.layout.template_name);
    };
    same("<image>", ids->image, now.image);
    same("BOS", ids->bos, now.bos);
    same("EOS", ids->eos, now.eos);
    same("end-of-turn", ids->end_of_turn, now.end_of_turn);
  }
  o->opt = seq_options(cfg.data, static_cast<int32_t>(o->model->image_token_id), o->store->fps());
  o->opt.state_steps = static_cast<int>(o->model->state_steps);
  return o;
}

std::optional<EvalResult> evaluate_stream(const EvalSetup& s, Communicator& comm) {
  const Config& cfg = s.cfg;
  auto in = open_eval_inputs(s, comm);
  AutocastGuard autocast(in->dev);
  Store& store = *in->store;
  const ChatTemplate& tmpl = in->tmpl;
  const SeqOptions& opt = in->opt;
  StreamTemplate st = stream_template(tmpl);
  StreamOptions so = stream_options(cfg);
  so.score_state = in->model->has_state_head();
  auto model = make_kv_cache_model(in->model, context_capacity(so, st));

  // eval.match = proassist: the encoder on every rank, METEOR on rank 0 (its errors end every rank).
  const bool proassist = cfg.eval.match == "proassist";
  std::unique_ptr<SentenceEmbedder> embedder;
  if (proassist) embedder = std::make_unique<SentenceEmbedder>(cfg.eval.sentence_encoder);
  std::unique_ptr<MeteorScorer> meteor;
  if (proassist && comm.rank() == 0) {
    if (cfg.eval.meteor_jar.empty()) {
      spdlog::info("eval.meteor_jar is not set: METEOR is null");
    } else {
      try {
        meteor = std::make_unique<MeteorScorer>(cfg.eval.meteor_jar);
      } catch (const Error& e) {
        if (comm.size() > 1) {
          spdlog::error("{}", e.what());
          comm.abort(e.code);
        }
        throw;
      }
    }
  }

  const int64_t n = store.num_clips();
  std::vector<ClipResult> mine;
  int64_t done = 0, reencodes = 0, reencoded_tokens = 0;
  struct {
    double pairs = 0, head = 0, tracked = 0;
  } state;  // summed over ranks below (integers: exact in any order)
  auto t0 = std::chrono::steady_clock::now();
  for_my_clips(comm, n, [&](int64_t c) {
    Clip clip = store.clip(c);
    double fps = clip.fps > 0 ? clip.fps : store.fps();
    PROSPECT_CHECK(fps > 0, "{}: clip {}: no fps (neither the clip nor the store names one)", s.store_path, clip.id());
    std::vector<float> rows = store.read_clip(c);
    PROSPECT_CHECK(static_cast<int64_t>(rows.size()) == clip.num_frames() * store.embedding_dim(),
                   "{}: clip {} stores {} rows for frames {}..{} ({} frames)", s.store_path, clip.id(),
                   store.clip_rows(c), clip.start_frame_idx, clip.end_frame_idx, clip.num_frames());
    const int64_t bad = first_non_finite_row(rows.data(), clip.num_frames(), store.embedding_dim());
    PROSPECT_CHECK(bad < 0, "{}: clip {} ({}, video {}): non-finite frame embeddings: frame {} holds NaN/Inf",
                   s.store_path, c, clip.id(), store.clip_video_uid(c), clip.start_frame_idx + bad);
    StreamClip sc = stream_input(clip, rows, store.embedding_dim(), fps, tmpl, opt);
    StreamResult r = stream_clip(*model, sc, st, so);
    reencodes += r.reencodes;
    reencoded_tokens += r.reencoded_tokens;
    state.pairs += r.state_pairs, state.head += r.state_head_correct, state.tracked += r.state_tracked_correct;
    ClipRecord rec = clip_record(clip, store.fps(), std::move(r.predicted));
    mine.push_back(evaluate_clip(rec, cfg.eval.match_before_s, cfg.eval.match_after_s));
    if (proassist)
      mine.back().proassist =
          std::make_shared<const ProAssistClip>(proassist_evaluate_clip(rec, rec.dataset, *embedder, s.match_windows));
    ++done;
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("clip {} ({}/{} on this rank): {} frames, {} turns generated, {} re-encodes, {:.1f} s", clip.id(),
                 done, (n - comm.rank() + comm.size() - 1) / comm.size(), clip.num_frames(), r.generated_turns,
                 r.reencodes, el);
  });
  spdlog::info("{} clips streamed on this rank, {} context re-encodes ({}), {} tokens re-encoded", done, reencodes,
               cfg.eval.context_strategy, reencoded_tokens);
  if (so.score_state) all_reduce_sum(comm, &state);
  std::optional<EvalResult> res = gather_results(comm, mine, 0, proassist, meteor.get());
  if (res && so.score_state) {
    auto pairs = static_cast<int64_t>(state.pairs);
    res->metrics.state_head = StateHeadScores{ratio(static_cast<int64_t>(state.head), pairs),
                                              ratio(static_cast<int64_t>(state.tracked), pairs), pairs};
  }
  if (res && !s.out_dir.empty()) {
    make_dirs(s.out_dir);
    write_eval_json(s.out_dir + "/eval.json", res->metrics, eval_config_json(s));
    write_predictions_jsonl(s.out_dir + "/predictions.jsonl", res->clips);
  }
  return res;
}

}  // namespace prospect::eval
