// The training data (train_data.h): splits, batches, and the micro-batches of each step.
#include "train_data.h"

#include <ATen/ops/empty.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "prospect/core/error.h"
#include "prospect/data/validate.h"

namespace fs = std::filesystem;

namespace prospect::train {

Split open_split(const std::string& path, const Config& cfg, int64_t feature_dim, const char* what, Communicator& comm) {
  PROSPECT_CHECK(fs::exists(path), "{} store not found: {} (data.{})", what, path, what);
  ValidateOptions vo;
  vo.expected_dim = feature_dim;
  vo.check_values = false;  // scanned below, each rank its share
  ValidationReport rep = validate_store(path, vo);
  if (!rep.readable) fail("{}", rep.problems.empty() ? path + ": not a readable prospect store" : format_problem(rep.problems[0], path));
  for (const Problem& p : rep.problems)
    if (p.severity == Severity::Error && p.clip < 0)
      fail("{} (data.{}: an error of the file, which data.skip_invalid never skips)", format_problem(p, path), what);
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
  const int64_t n = s.store->num_clips(), D = s.store->embedding_dim();

  // The values: this rank's share of the clips, then what every rank found.
  std::vector<uint8_t> non_finite(static_cast<size_t>(n), 0);
  for (int64_t c = comm.rank(); c < n; c += comm.size()) {
    if (rep.bad_clips.count(c)) continue;
    std::vector<float> rows = s.store->read_clip(c);
    const int64_t bad = first_non_finite_row(rows.data(), s.store->clip_rows(c), D);
    if (bad < 0) continue;
    const Clip clip = s.store->clip(c);
    std::string msg = fmt::format("{}: clip {} ({}, video {}): non-finite frame embeddings: frame {} (row {}) holds NaN/Inf",
                                  path, c, clip.id(), s.store->clip_video_uid(c), clip.start_frame_idx + bad,
                                  s.store->clip_offsets()[c] + bad);
    if (!cfg.data.skip_invalid) fail("{} (data.{}; data.skip_invalid=true skips such clips)", msg, what);
    spdlog::warn("{}: skipped (data.skip_invalid)", msg);
    non_finite[c] = 1;
  }
  if (comm.size() > 1 && n > 0) comm.all_reduce(non_finite.data(), non_finite.size(), DType::U8, ReduceOp::Max);
  std::set<int64_t> skipped = rep.bad_clips;
  for (int64_t c = 0; c < n; ++c)
    if (non_finite[c]) skipped.insert(c);

  for (int64_t c = 0; c < n; ++c) {
    bool bad = skipped.count(c) > 0;
    s.clips.push_back(bad ? Clip{} : s.store->clip(c));
    s.clip_video.push_back(bad ? -1 : s.store->clip_video(c));
  }
  if (!skipped.empty())
    spdlog::warn("{}: {} invalid clips skipped ({} with non-finite values)", path, skipped.size(),
                 skipped.size() - rep.bad_clips.size());
  return s;
}

Batch make_batch(const Split& split, const std::vector<int64_t>& clips, const ChatTemplate& tmpl, const SeqOptions& opt,
                 const Sampling& sampling, int64_t pack_to) {
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
  return collate(ptrs, frames, 0, pack_to);
}

StepPlanner::StepPlanner(const Config& cfg, const Split& split, const ChatTemplate& tmpl, const SeqOptions& opt,
                         int rank, int world, int virtual_ranks)
    : cfg_(cfg),
      split_(split),
      tmpl_(tmpl),
      opt_(opt),
      rank_(rank),
      virtual_ranks_(virtual_ranks),
      accum_(std::max(1, cfg.train.grad_accum)),
      my_virtual_ranks_(virtual_ranks_of(rank, world, virtual_ranks)),
      video_weight_(split.store->video_uids().size(), 0.0) {
  for (size_t c = 0; c < split.clips.size(); ++c)
    if (split.clip_video[c] >= 0) video_weight_[split.clip_video[c]] += clip_token_count(split.clips[c], tmpl, opt);
}

const ShardPlan& StepPlanner::plan_of(int64_t epoch) {
  auto it = plans_.find(epoch);
  if (it != plans_.end()) return it->second;
  plans_.clear();
  ShardPlan p = make_shard_plan(split_.clip_video, video_weight_, virtual_ranks_, cfg_.train.micro_batch_size,
                                static_cast<uint64_t>(cfg_.train.seed), epoch);
  if (p.total_padding() > 0 && rank_ == 0)
    spdlog::info("epoch {}: {} micro-batches per virtual rank, {} padded with repeats", epoch,
                 p.micro_batches_per_rank(), p.total_padding());
  // The last step's share of each virtual rank beyond its micro-batches: the epoch's first ones again.
  const int64_t refill = steps_in(p) * accum_ - p.micro_batches_per_rank();
  if (refill > 0 && rank_ == 0)
    spdlog::info("epoch {}: {} micro-batches per virtual rank are not a multiple of train.grad_accum = {}: the last "
                 "step repeats the first {} of each virtual rank",
                 epoch, p.micro_batches_per_rank(), accum_, refill);
  return plans_.emplace(epoch, std::move(p)).first->second;
}

int64_t StepPlanner::steps_in(const ShardPlan& p) const {
  return std::max<int64_t>(1, (p.micro_batches_per_rank() + accum_ - 1) / accum_);
}

StepData StepPlanner::step(const DataCursor& at) {
  const ShardPlan& plan = plan_of(at.epoch);
  const int64_t M = plan.micro_batches_per_rank();
  StepData d;
  Sampling sampling{static_cast<uint64_t>(cfg_.train.seed), static_cast<uint64_t>(at.epoch),
                    cfg_.data.neg_frame_sampling_rate};
  for (int r : my_virtual_ranks_)
    for (int k = 0; k < accum_; ++k) {
      const auto& clips = plan.micro_batches[r][(at.epoch_step * accum_ + k) % M];
      Batch b = make_batch(split_, clips, tmpl_, opt_, sampling, cfg_.train.pack ? opt_.max_seq_len : 0);
      d.counts += b.counts;
      d.tokens += b.tokens;
      d.tokens_padded += padding_count(b).tokens_padded;
      d.sequences += b.sequences;
      d.batches.push_back(std::move(b));
    }
  d.next = at;
  if (++d.next.epoch_step >= steps_in(plan)) ++d.next.epoch, d.next.epoch_step = 0;
  return d;
}

}  // namespace prospect::train
