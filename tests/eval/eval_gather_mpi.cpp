// mpirun -n N eval_gather_mpi OUT: every rank evaluates its share of a fixed set of fabricated clips
// (a split that depends on N, each rank in reverse order); rank 0 gathers, writes OUT/eval.json and
// OUT/predictions.jsonl, then checks that recomputing from predictions.jsonl gives the same eval.json.
// The CTest chain compares the files of N = 1, 2, 3 byte for byte.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "prospect/core/error.h"
#include "prospect/core/rng.h"
#include "prospect/distributed/mpi_comm.h"
#include "prospect/eval/report.h"

using namespace prospect;
using namespace prospect::eval;

namespace {

const char* const kWords[] = {"now", "grind", "the", "coffee", "beans", "pour", "water", "slowly", "into",
                              "filter", "let", "'s", "fold", "paper", "cone", "good", "done", "wait"};

std::string sentence(Rng& rng) {
  std::string s;
  int n = 3 + static_cast<int>(rng.below(6));
  for (int k = 0; k < n; ++k) s += (k ? " " : "") + std::string(kWords[rng.below(18)]);
  return s;
}

// Clip k: frames [start, start + 20..60), 2 fps, 3 or 4 steps, random events on both sides.
ClipRecord fabricate(int k) {
  Rng rng(1000 + k);
  ClipRecord r;
  r.first_frame = 100 * (k % 3);
  r.last_frame = r.first_frame + 20 + static_cast<int64_t>(rng.below(40));
  r.clip_id = "video" + std::to_string(k % 5) + ":" + std::to_string(r.first_frame);
  r.fps = 2.0;
  int steps = 3 + static_cast<int>(rng.below(2));
  for (int s = 1; s <= steps; ++s)
    r.initial_state["S" + std::to_string(s)] = s == 1 ? StepState::InProgress : StepState::NotStarted;
  int64_t len = r.last_frame - r.first_frame + 1;
  auto frame = [&] { return r.first_frame + static_cast<int64_t>(rng.below(len)); };
  auto step = [&] { return "S" + std::to_string(1 + rng.below(steps + 1)); };  // one unknown step
  for (int e = 0, n = 2 + static_cast<int>(rng.below(5)); e < n; ++e) r.reference.push_back(assistant_event(frame(), sentence(rng)));
  for (int e = 0, n = 1 + static_cast<int>(rng.below(4)); e < n; ++e)
    r.reference.push_back(dst_event(frame(), "S" + std::to_string(1 + rng.below(steps)), rng.below(2) ? "start" : "complete"));
  for (int e = 0, n = static_cast<int>(rng.below(6)); e < n; ++e) r.predicted.push_back(assistant_event(frame(), sentence(rng)));
  for (int e = 0, n = static_cast<int>(rng.below(5)); e < n; ++e) {
    if (rng.below(6) == 0)
      r.predicted.push_back(malformed_event(frame(), "S?->"));
    else
      r.predicted.push_back(dst_event(frame(), step(), rng.below(2) ? "start" : "complete"));
  }
  // events in time order, as a stream produces them
  for (auto* list : {&r.reference, &r.predicted}) {
    std::stable_sort(list->begin(), list->end(), [](const Event& a, const Event& b) { return a.frame < b.frame; });
    for (size_t i = 0; i < list->size(); ++i) (*list)[i].index = static_cast<int>(i);
  }
  return r;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int run(int argc, char** argv) {
  if (argc != 2) usage_fail("usage: eval_gather_mpi OUT_DIR");
  auto comm_ptr = make_mpi_communicator(/*timeout_s=*/60.0);
  Communicator& comm = *comm_ptr;
  const int world = comm.size(), me = comm.rank();
  const int kClips = 13;
  std::vector<ClipResult> mine;
  for (int k = kClips - 1; k >= 0; --k)
    if ((k * 7 + 3) % world == me) mine.push_back(evaluate_clip(fabricate(k), 2.0, 4.0));
  auto result = gather_results(comm, mine, 0);
  if (me != 0) return 0;
  std::string out = argv[1];
  std::filesystem::create_directories(out);
  nlohmann::json cfg = {{"eval", {{"match_before_s", 2.0}, {"match_after_s", 4.0}}}};
  write_eval_json(out + "/eval.json", result->metrics, cfg);
  write_predictions_jsonl(out + "/predictions.jsonl", result->clips);
  std::fputs(metrics_table(result->metrics).c_str(), stdout);
  PROSPECT_CHECK(result->metrics.counts.clips == kClips, "expected {} clips, got {}", kClips, result->metrics.counts.clips);
  PROSPECT_CHECK(result->metrics.text.cider.has_value(), "no matched text pairs: the fabricated clips need some");
  auto again = evaluate_records(read_predictions_jsonl(out + "/predictions.jsonl"), 2.0, 4.0);
  PROSPECT_CHECK(eval_json_text(again.metrics, cfg) == read_file(out + "/eval.json"),
                 "eval.json recomputed from predictions.jsonl differs");
  std::printf("world %d: eval.json written to %s\n", world, out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run_app([&] { return run(argc, argv); }); }
