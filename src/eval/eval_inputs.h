// What both modes of prospect_eval open (evaluate.cpp, evaluate_teacher_forced.cpp), and how they
// walk this rank's clips. Private to src/eval.
#pragma once
#include <spdlog/spdlog.h>

#include <memory>

#include "prospect/core/error.h"
#include "prospect/data/store.h"
#include "prospect/distributed/communicator.h"
#include "prospect/eval/evaluate.h"
#include "prospect/model/device.h"
#include "prospect/model/dst_model.h"
#include "prospect/seq/format.h"
#include "prospect/text/chat_template.h"
#include "prospect/text/tokenizer.h"

namespace prospect::eval {

// The store of the split, the checkpoint's model (checked against the store and the tokenizer) on the
// device of model.device / model.dtype (model/device.h; each rank logs its own), the tokenizer, the
// template and the sequence options. A collective: every rank calls it.
struct EvalInputs {
  std::unique_ptr<Store> store;
  ComputeDevice dev;
  DSTProActLlama model{nullptr};  // on dev.device; forwards run under AutocastGuard(dev)
  std::unique_ptr<Tokenizer> tok;
  ChatTemplate tmpl;
  SeqOptions opt;
};
std::unique_ptr<EvalInputs> open_eval_inputs(const EvalSetup& s, Communicator& comm);

// Runs body(c) on this rank's clips (round-robin by clip index). An error on one rank ends the job at
// once through the program's run_ranks (communicator.h): the others would otherwise wait for it in the
// gather until the timeout. Rank 0 looks for such a failure after each clip, so that its log says it.
template <typename F>
void for_my_clips(Communicator& comm, int64_t n, F body) {
  for (int64_t c = comm.rank(); c < n; c += comm.size()) {
    body(c);
    comm.check_peer_failures();
  }
}

}  // namespace prospect::eval
