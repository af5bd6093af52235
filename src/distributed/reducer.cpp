// Bucketed, overlapped gradient all-reduce and the start-of-run parameter broadcast. See reducer.h.
#include "prospect/distributed/reducer.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/types.h>

#include <chrono>
#include <functional>
#include <thread>
#include <spdlog/spdlog.h>

#include "prospect/core/error.h"
#include "prospect/core/rng.h"

namespace prospect {

namespace {

using Clock = std::chrono::steady_clock;

// Called by the autograd engine after AccumulateGrad has added this backward's gradient to .grad.
struct GradReadyHook : torch::autograd::FunctionPostHook {
  std::function<void()> fn;
  explicit GradReadyHook(std::function<void()> f) : fn(std::move(f)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    fn();
    return outputs;
  }
};

DType to_dtype(const torch::Tensor& t, const std::string& name) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return DType::F32;
    case torch::kFloat64: return DType::F64;
    default: fail("reducer: parameter {} has dtype {}; gradients are reduced in float32 or float64 only", name,
                  std::string(c10::toString(t.scalar_type())));
  }
}

std::string shape_string(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

static c10::Device params_device(const std::vector<std::pair<std::string, torch::Tensor>>& named_params) {
  for (auto& [name, t] : named_params)
    if (t.requires_grad()) return t.device();
  return c10::Device(c10::kCPU);
}

Reducer::Reducer(std::vector<std::pair<std::string, torch::Tensor>> named_params, DataPlane& data,
                 ReducerOptions opts)
    : data_(&data), opts_(opts) {
  init(std::move(named_params));
}

Reducer::Reducer(std::vector<std::pair<std::string, torch::Tensor>> named_params, Communicator& comm,
                 ReducerOptions opts)
    : owned_plane_(make_mpi_data_plane(comm, params_device(named_params))), data_(owned_plane_.get()), opts_(opts) {
  init(std::move(named_params));
}

void Reducer::init(std::vector<std::pair<std::string, torch::Tensor>> named_params) {
  for (auto& [name, t] : named_params)
    if (t.requires_grad()) params_.push_back(Param{name, t});  // frozen parameters take no part
  for (auto& p : params_)
    PROSPECT_CHECK(p.tensor.device() == data_->device(), "reducer: parameter {} is on {}, the data plane on {}", p.name,
                   p.tensor.device().str(), data_->device().str());
  std::vector<int> order;  // reverse registration order until backward has shown its own
  for (int p = int(params_.size()) - 1; p >= 0; --p) order.push_back(p);
  build_buckets(order);
  if (data_->size() > 1) {
    install_hooks();
    if (opts_.overlap) thread_ = std::thread([this] { comm_thread_main(); });
  }
}

static std::vector<std::pair<std::string, torch::Tensor>> named(torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& item : m.named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
  return out;
}

Reducer::Reducer(torch::nn::Module& module, Communicator& comm, ReducerOptions opts)
    : Reducer(named(module), comm, opts) {}

Reducer::~Reducer() {
  for (size_t i = 0; i < accumulators_.size(); ++i) accumulators_[i]->del_post_hook(hook_keys_[i]);
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
}

void Reducer::build_buckets(const std::vector<int>& order) {
  const double mb = 1024.0 * 1024.0;
  buckets_.clear();
  Bucket cur;
  int64_t cur_bytes = 0;
  auto close = [&] {
    if (cur.params.empty()) return;
    buckets_.push_back(std::move(cur));
    cur = Bucket{};
    cur_bytes = 0;
  };
  for (int p : order) {
    const auto& t = params_[p].tensor;
    DType dt = to_dtype(t, params_[p].name);
    if (!cur.params.empty()) {
      const auto& first = params_[cur.params.front()].tensor;
      if (dt != cur.dtype || t.device() != first.device()) close();
    }
    if (cur.params.empty()) cur.dtype = dt;
    cur.params.push_back(p);
    cur_bytes += t.numel() * int64_t(dtype_size(dt));
    double cap = (buckets_.empty() ? opts_.first_bucket_mb : opts_.bucket_mb) * mb;
    if (double(cur_bytes) >= cap) close();
  }
  close();
  for (int b = 0; b < int(buckets_.size()); ++b) {
    auto& bk = buckets_[b];
    int64_t n = 0;
    for (int p : bk.params) {
      params_[p].bucket = b;
      params_[p].offset = n;
      n += params_[p].tensor.numel();
    }
    // One more element per parameter after the gradients: 1 where this rank has a gradient for it.
    // Summed with the gradients, it tells which parameters no rank used (their grad stays undefined).
    bk.numel = n;
    const auto& t0 = params_[bk.params.front()].tensor;
    bk.flat = torch::zeros({n + int64_t(bk.params.size())}, torch::TensorOptions().dtype(t0.scalar_type()).device(t0.device()));
  }
  reset_round();
}

void Reducer::install_hooks() {
  for (int p = 0; p < int(params_.size()); ++p) {
    auto acc = torch::autograd::impl::grad_accumulator(params_[p].tensor);
    PROSPECT_CHECK(acc, "reducer: parameter {} is not a leaf that accumulates gradients", params_[p].name);
    hook_keys_.push_back(acc->add_post_hook(std::make_unique<GradReadyHook>([this, p] { on_grad_ready(p); })));
    accumulators_.push_back(std::move(acc));
  }
}

void Reducer::reset_round() {
  for (auto& p : params_) p.fired = 0;
  for (auto& b : buckets_) {
    b.pending = int(b.params.size());
    b.started = false;
    b.work.reset();  // done: finalize() waited for it (or the round never started it)
  }
  next_bucket_ = 0;
  first_gradients_ = 0;
  started_before_last_ = 0;
  active_ = false;
  late_.clear();
}

void Reducer::set_sync(bool sync) {
  PROSPECT_CHECK(!active_, "reducer: set_sync() between a sync backward and finalize()");
  sync_ = sync;
}

void Reducer::on_grad_ready(int p) {
  if (!sync_) return;  // an accumulation micro-step: the gradient stays local
  active_ = true;
  auto& prm = params_[p];
  auto& bk = buckets_[prm.bucket];
  if (prm.fired == 0) note_first_gradient(p);
  if (prm.fired++ > 0) {
    // A second contribution in the same backward: harmless unless its bucket already left.
    if (bk.started) late_.push_back(prm.name);
    return;
  }
  if (--bk.pending == 0 && opts_.overlap) start_ready_buckets();
  if (first_gradients_ < int(params_.size())) started_before_last_ = next_bucket_;
}

void Reducer::note_first_gradient(int p) {
  ++first_gradients_;
  if (!order_fixed_) fire_order_.push_back(p);
}

void Reducer::start_ready_buckets() {
  while (next_bucket_ < int(buckets_.size()) && buckets_[next_bucket_].pending == 0) start_bucket(next_bucket_++);
}

void Reducer::start_bucket(int b) {
  auto& bk = buckets_[b];
  torch::NoGradGuard no_grad;
  auto used = torch::zeros({int64_t(bk.params.size())}, torch::TensorOptions().dtype(bk.flat.dtype()));
  for (size_t i = 0; i < bk.params.size(); ++i) {
    auto& prm = params_[bk.params[i]];
    auto slot = bk.flat.narrow(0, prm.offset, prm.tensor.numel());
    const auto& g = prm.tensor.grad();
    if (g.defined()) {
      slot.copy_(g.reshape({-1}));
      used[int64_t(i)] = 1;
    } else {
      slot.zero_();  // unused here; another rank may have a gradient
    }
  }
  bk.flat.narrow(0, bk.numel, int64_t(bk.params.size())).copy_(used);
  bk.started = true;
  // The copies above are on the compute stream (the one backward runs on); the all-reduce, on the
  // data plane's comm stream, starts after them (stream.h).
  std::shared_ptr<Event> ready = data_->compute_stream().record();
  Collective c = data_->all_reduce_async(bk.flat, ReduceOp::Sum, *ready);
  bk.work = std::move(c.work);
  bk.done = std::move(c.done);
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(bk.work.get());
      ++launched_;
    }
    cv_.notify_all();
  } else {
    bk.work->wait();
    ++launched_;
    ++completed_;
  }
}

void Reducer::comm_thread_main() {
  for (;;) {
    Work* work = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_
      work = queue_.front();
      queue_.erase(queue_.begin());
    }
    try {
      // Polling is what makes the all-reduce progress during backward (no asynchronous progress in
      // Open MPI). This thread shares the cores with backward, so it tests every 50 us rather than
      // back to back; after 100 ms it leaves the rest to wait(), which also watches the deadline.
      auto t0 = Clock::now();
      while (!work->test() && Clock::now() - t0 < std::chrono::milliseconds(100))
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      work->wait();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++completed_;
    }
    cv_.notify_all();
  }
}

double Reducer::finalize() {
  if (!sync_ || data_->size() == 1) {
    reset_round();
    return 0.0;
  }
  auto t0 = Clock::now();
  int early = started_before_last_;
  if (!warned_unused_) {
    std::vector<std::string> unused;
    for (auto& p : params_)
      if (p.fired == 0) unused.push_back(p.name);
    if (!unused.empty()) {
      warned_unused_ = true;
      std::string names = unused.front();
      for (size_t i = 1; i < unused.size() && i < 8; ++i) names += ", " + unused[i];
      spdlog::info("reducer: {} trainable parameter(s) got no gradient in this backward on rank {} ({}{}): "
                   "their bucket and the later ones are reduced after backward (less overlap); freeze "
                   "parameters that are never used (logged once)",
                   unused.size(), data_->rank(), names, unused.size() > 8 ? ", ..." : "");
    }
  }
  // Buckets with unused parameters, and everything when not overlapping: started now, in order.
  for (auto& b : buckets_) b.pending = 0;
  start_ready_buckets();
  if (thread_.joinable()) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return completed_ == launched_; });
    if (error_) {
      auto e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }
  double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!late_.empty()) {
    std::string names = late_.front();
    for (size_t i = 1; i < late_.size() && i < 5; ++i) names += ", " + late_[i];
    reset_round();
    fail("reducer: parameter(s) {} received gradient again after their bucket was all-reduced in the same "
         "backward (used inside and outside a re-entrant checkpoint?); set dist.overlap=false",
         names);
  }
  // The optimizer's stream waits for the comm stream (no device-wide synchronisation); the copies
  // below and everything after them are ordered after every bucket's all-reduce.
  for (auto& bk : buckets_) data_->compute_stream().wait(*bk.done);
  torch::NoGradGuard no_grad;
  for (auto& bk : buckets_) {
    auto used = bk.flat.narrow(0, bk.numel, int64_t(bk.params.size())).to(torch::kCPU, torch::kFloat64);
    auto used_a = used.accessor<double, 1>();
    for (size_t i = 0; i < bk.params.size(); ++i) {
      auto& prm = params_[bk.params[i]];
      auto& g = prm.tensor.mutable_grad();
      if (!g.defined() && used_a[int64_t(i)] == 0) continue;  // no rank has a gradient: stays undefined
      auto sum = bk.flat.narrow(0, prm.offset, prm.tensor.numel()).view(prm.tensor.sizes());
      if (g.defined()) g.copy_(sum);
      else g = sum.clone();
    }
  }
  last_started_early_ = early;
  reset_round();
  if (!order_fixed_) adopt_backward_order();
  return waited;
}

void Reducer::adopt_backward_order() {
  // Rank 0's order of first gradients in this backward, on every rank (a collective: every rank is in
  // finalize() of the same step), then the parameters it did not see, in reverse registration order.
  // Through the data plane (the reducer holds no host plane): a one-off int64 tensor on its device,
  // copied back to the host; one small synchronising copy on the first sync step only.
  order_fixed_ = true;
  if (!opts_.overlap) return;  // everything is reduced in finalize(): the order cannot matter
  auto on_plane = torch::TensorOptions().dtype(torch::kInt64).device(data_->device());
  torch::Tensor count = torch::full({1}, int64_t(fire_order_.size()), on_plane);
  data_->broadcast(count, 0);
  const int64_t n = count.to(torch::kCPU).item<int64_t>();
  std::vector<int64_t> mine(fire_order_.begin(), fire_order_.end());
  mine.resize(size_t(n));
  torch::Tensor order_t = torch::tensor(mine, torch::kInt64).to(data_->device());
  data_->broadcast(order_t, 0);
  order_t = order_t.to(torch::kCPU);
  std::vector<int64_t> seen(order_t.data_ptr<int64_t>(), order_t.data_ptr<int64_t>() + n);
  fire_order_.clear();
  std::vector<int> order;
  std::vector<bool> placed(params_.size(), false);
  for (int64_t p : seen) {
    PROSPECT_CHECK(p >= 0 && p < int64_t(params_.size()) && !placed[size_t(p)],
                   "reducer: rank 0's gradient order names parameter {} of {}", p, params_.size());
    placed[size_t(p)] = true;
    order.push_back(int(p));
  }
  for (int p = int(params_.size()) - 1; p >= 0; --p)
    if (!placed[size_t(p)]) order.push_back(p);
  int before = num_buckets();
  build_buckets(order);
  spdlog::debug("reducer: rank {}: buckets rebuilt in backward's order ({} -> {} buckets)", data_->rank(), before,
                num_buckets());
}

std::vector<std::string> Reducer::bucket_names(int b) const {
  std::vector<std::string> out;
  for (int p : buckets_.at(size_t(b)).params) out.push_back(params_[p].name);
  return out;
}

// ---- the start of a run ----

std::string describe_parameters(torch::nn::Module& module) {
  std::string s;
  for (auto& item : module.named_parameters(true))
    s += fmt::format("param {} {} {} {}\n", item.key(), shape_string(item.value()),
                     std::string(c10::toString(item.value().scalar_type())),
                     item.value().requires_grad() ? "trainable" : "frozen");
  for (auto& item : module.named_buffers(true))
    s += fmt::format("buffer {} {} {}\n", item.key(), shape_string(item.value()),
                     std::string(c10::toString(item.value().scalar_type())));
  return s;
}

// The first line where two descriptions differ, for the error message.
static std::string first_difference(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  for (;;) {
    size_t ea = a.find('\n', i), eb = b.find('\n', j);
    std::string la = ea == std::string::npos ? a.substr(i) : a.substr(i, ea - i);
    std::string lb = eb == std::string::npos ? b.substr(j) : b.substr(j, eb - j);
    if (la != lb)
      return fmt::format("rank 0 has '{}', it has '{}'", la.empty() ? "(end of list)" : la,
                         lb.empty() ? "(end of list)" : lb);
    if (ea == std::string::npos || eb == std::string::npos) return "the lists differ";
    i = ea + 1;
    j = eb + 1;
  }
}

void broadcast_parameters(torch::nn::Module& module, Communicator& comm, DataPlane& data) {
  if (comm.size() == 1) return;
  // 1. Same list everywhere? Hashes gathered on rank 0; on a mismatch each rank's full list too.
  std::string desc = describe_parameters(module);
  uint64_t h = fnv1a64(desc);
  auto hashes = comm.gather_bytes(std::string(reinterpret_cast<const char*>(&h), sizeof(h)), 0);
  int64_t bad = 0;
  if (comm.rank() == 0)
    for (auto& x : hashes) bad |= x != hashes[0];
  comm.broadcast(&bad, 1, DType::I64, 0);
  if (bad) {
    auto all = comm.gather_bytes(desc, 0);
    std::string msg;
    if (comm.rank() == 0) {
      for (int r = 1; r < comm.size() && msg.empty(); ++r)
        if (all[r] != all[0]) msg = fmt::format("rank {}'s parameters differ from rank 0's: first difference: {}", r,
                                                first_difference(all[0], all[r]));
    }
    int64_t n = int64_t(msg.size());
    comm.broadcast(&n, 1, DType::I64, 0);
    msg.resize(size_t(n));
    comm.broadcast(msg.data(), size_t(n), DType::U8, 0);
    fail("broadcast_parameters: {}", msg);
  }
  // 2. Rank 0's values everywhere, over the data plane (device memory).
  torch::NoGradGuard no_grad;
  auto send = [&](torch::Tensor t) {
    torch::Tensor c = t.is_contiguous() ? t : t.contiguous();
    const auto st = c.scalar_type();
    const bool as_is = st == torch::kFloat32 || st == torch::kFloat64 || st == torch::kInt64 || st == torch::kUInt8;
    data.broadcast(as_is ? c : c.reshape({-1}).view(torch::kUInt8), 0);  // other types travel as bytes
    if (!c.is_same(t)) t.copy_(c);
  };
  for (auto& item : module.named_parameters(true)) send(item.value());
  for (auto& item : module.named_buffers(true)) send(item.value());
}

void broadcast_parameters(torch::nn::Module& module, Communicator& comm) {
  if (comm.size() == 1) return;
  c10::Device device(c10::kCPU);
  for (auto& p : module.parameters(true)) {
    device = p.device();
    break;
  }
  auto data = make_mpi_data_plane(comm, device);
  broadcast_parameters(module, comm, *data);
}

}  // namespace prospect
