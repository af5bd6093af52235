// prospect_eval as a user runs it, on a synthetic split and a random tiny model: the outputs, every
// number of eval.json recomputed from predictions.jsonl, and the errors a user meets (exit codes of
// SPEC §1).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include <torch/version.h>

#include "tiny_eval.h"
#include "prospect/eval/evaluate.h"
#include "prospect/eval/report.h"
#include "prospect/data/store.h"
#include "prospect/text/tokenizer.h"

using namespace prospect;
namespace fs = std::filesystem;

namespace {

std::string eval_cmd(const test::TinyEval& s, const std::string& out, const std::string& extra = "") {
  return test::binary_path("prospect_eval") + " --config " + s.ini + " --checkpoint " + s.model + " --split test --out " + out +
         " " + extra;
}

}  // namespace

TEST(StreamE2E, WritesEvalJsonRecomputableFromPredictions) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  std::string out = s.dir + "/out";
  auto r = test::run_program(eval_cmd(s, out));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("speaking"), std::string::npos) << r.output;  // the printed table
  std::string text = test::read_text(out + "/eval.json");
  auto j = nlohmann::json::parse(text);
  for (const char* k : {"speaking_frame", "speaking_event", "dst_update_frame", "dst_update_event", "dst", "text",
                        "counts", "config"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_FALSE(j["config"].dump().find(s.dir) != std::string::npos) << "paths in the config block";
  auto recs = eval::read_predictions_jsonl(out + "/predictions.jsonl");
  EXPECT_EQ(static_cast<int64_t>(recs.size()), j["counts"]["clips"].get<int64_t>());
  EXPECT_GT(j["counts"]["frames"].get<int64_t>(), 100);
  auto again = eval::evaluate_records(recs, s.cfg.eval.match_before_s, s.cfg.eval.match_after_s);
  EXPECT_EQ(eval::eval_json_text(again.metrics, j["config"]), text);
}

TEST(StreamE2E, EmbeddingsOfAnotherDimension) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  auto r = test::run_program(eval_cmd(s, s.dir + "/out_dim", "--data.test=" + s.data32 + "/test.h5"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("dimension 32"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("data32/test.h5"), std::string::npos) << r.output;
}

TEST(StreamE2E, MissingSplit) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  auto r = test::run_program(eval_cmd(s, s.dir + "/out_missing", "--data.test=" + s.dir + "/nope.h5"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("nope.h5"), std::string::npos) << r.output;
}

TEST(StreamE2E, CheckpointOfAnotherShape) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  auto r = test::run_program(eval_cmd(s, s.dir + "/out_shape", "--model.hidden_size=64"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("model.hidden_size"), std::string::npos) << r.output;
}

TEST(StreamE2E, MissingCheckpointAndUsage) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  auto r = test::run_program(test::binary_path("prospect_eval") + " --config " + s.ini + " --checkpoint " + s.dir +
                    "/no_such_ckpt --out " + s.dir + "/o");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("no_such_ckpt"), std::string::npos) << r.output;
  EXPECT_EQ(test::run_program(eval_cmd(s, s.dir + "/o", "--split dev")).code, 2);
  EXPECT_EQ(test::run_program(eval_cmd(s, s.dir + "/o", "--eval.bogus=1")).code, 2);
  EXPECT_EQ(test::run_program(test::binary_path("prospect_eval") + " --config " + s.ini + " --out " + s.dir + "/o").code, 2);
  auto h = test::run_program(test::binary_path("prospect_eval") + " --help");
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.output.find("eval.overflow_keep"), std::string::npos);
}

TEST(ThresholdSweep, BestF1Threshold) {
  auto logit = [](double p) { return static_cast<float>(std::log(p / (1 - p))); };
  std::vector<float> lo{logit(0.9), logit(0.8), logit(0.7), logit(0.2)};
  std::vector<uint8_t> la{1, 0, 1, 0};
  auto c = eval::best_f1_threshold(lo, la);
  ASSERT_TRUE(c.has_value());
  EXPECT_NEAR(c->threshold, 0.45, 1e-6);
  EXPECT_NEAR(c->f1, 0.8, 1e-12);
  EXPECT_NEAR(c->precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(c->recall, 1.0, 1e-12);
  EXPECT_FALSE(eval::best_f1_threshold(lo, {0, 0, 0, 0}).has_value());
}

TEST(StreamE2E, TeacherForcedWithThresholdSweep) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  std::string out = s.dir + "/out_tf";
  auto r = test::run_program(eval_cmd(s, out, "--mode teacher-forced --threshold-sweep"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(test::read_text(out + "/teacher_forced.json"));
  EXPECT_TRUE(j["speaking"].contains("f1"));
  EXPECT_TRUE(j["ppl_assistant"].is_number());
  EXPECT_GT(j["ppl_assistant"].get<double>(), 1.0);
  EXPECT_GT(j["counts"]["assistant_tokens"].get<int64_t>(), 0);
  EXPECT_TRUE(j["best_thresholds"]["speak_threshold"]["threshold"].is_number());
  EXPECT_TRUE(j["best_thresholds"]["dst_threshold"]["f1"].is_number());
}

// A checkpoint as training writes it names its template and tokenizer in trainer.json, and its model
// files define the model: a model.* key set by the user that disagrees is a usage error naming it.
TEST(StreamE2E, CheckpointWithTrainerJson) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  std::string ck = s.dir + "/ckpt/step-000007";
  fs::create_directories(ck);
  for (const auto& f : fs::directory_iterator(s.model)) fs::copy_file(f.path(), ck + "/" + f.path().filename().string(), fs::copy_options::overwrite_existing);
  fs::copy_file(s.cfg.data.tokenizer, ck + "/tokenizer.model", fs::copy_options::overwrite_existing);
  auto write_trainer = [&](const Config& c) {
    nlohmann::json t = {{"step", 7}, {"epoch", 0}, {"epoch_step", 7}, {"config", to_ini(c)}, {"template", "plain"},
                        {"tokenizer", "tokenizer.model"}};
    std::ofstream(ck + "/trainer.json") << t.dump(2);
  };
  write_trainer(s.cfg);
  std::string out = s.dir + "/out_ckpt";
  // the checkpoint's own tokenizer is used; one the user names must be the same file
  auto missing = test::run_program(test::binary_path("prospect_eval") + " --config " + s.ini + " --checkpoint " + ck +
                                   " --out " + out + " --data.tokenizer=" + s.dir + "/missing.model");
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("data.tokenizer = " + s.dir + "/missing.model"), std::string::npos) << missing.output;
  auto r = test::run_program(test::binary_path("prospect_eval") + " --config " + s.ini + " --checkpoint " + ck + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(test::read_text(out + "/eval.json"));
  EXPECT_EQ(j["config"]["checkpoint_step"], 7);
  // the same numbers as the bare model folder, evaluated here
  std::string bare = s.dir + "/out_ckpt_bare";
  auto rb = test::run_program(eval_cmd(s, bare));
  ASSERT_EQ(rb.code, 0) << rb.output;
  auto ref = nlohmann::json::parse(test::read_text(bare + "/eval.json"));
  ASSERT_GT(ref["counts"]["frames"].get<int64_t>(), 0);
  EXPECT_EQ(test::read_text(out + "/predictions.jsonl"), test::read_text(bare + "/predictions.jsonl"));
  j.erase("config");
  ref.erase("config");
  EXPECT_EQ(j, ref);
  auto bad = test::run_program(test::binary_path("prospect_eval") + " --config " + s.ini + " --checkpoint " + ck +
                               " --out " + out + " --model.intermediate_size=96");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("model.intermediate_size = 96"), std::string::npos) << bad.output;
  // the special ids training recorded are made again from the checkpoint's tokenizer, template, model
  nlohmann::json t = nlohmann::json::parse(test::read_text(ck + "/trainer.json"));
  t["special_ids"] = {{"image", 1}, {"bos", -1}, {"eos", -1}, {"end_of_turn", -1}};
  std::ofstream(ck + "/trainer.json") << t.dump(2);
  auto ids = test::run_program(test::binary_path("prospect_eval") + " --config " + s.ini + " --checkpoint " + ck + " --out " + out);
  EXPECT_EQ(ids.code, 1) << ids.output;
  EXPECT_NE(ids.output.find("was 1 in training"), std::string::npos) << ids.output;
}

// prospect_eval honours model.device and model.dtype (SPEC §4), and refuses what it cannot have with a
// usage error (exit 2) naming the key, in both modes, writing nothing.
TEST(StreamE2E, DeviceAndDtypeRequests) {
  const auto& s = test::tiny_eval("evalstream_device");
  for (const char* mode : {"stream", "teacher-forced"}) {
    std::string out = s.dir + "/cuda_" + mode;
    auto r = test::run_program("CUDA_VISIBLE_DEVICES= " + eval_cmd(s, out, std::string("--mode ") + mode + " --model.device=cuda"));
    EXPECT_EQ(r.code, 2) << mode << "\n" << r.output;
    EXPECT_NE(r.output.find("model.device=cuda: found no CUDA device"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out)) << mode;
  }
  std::string out = s.dir + "/bf16";
  auto r = test::run_program(eval_cmd(s, out, "--model.device=cpu --model.dtype=bf16"));
#if TORCH_VERSION_MAJOR >= 2
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 0 runs on cpu (bf16 autocast)"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out + "/eval.json"));
#else
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("model.dtype=bf16 on the CPU: found LibTorch " TORCH_VERSION), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
#endif
  r = test::run_program(eval_cmd(s, s.dir + "/tf_bf16", "--mode teacher-forced --model.device=cpu --model.dtype=bf16"));
  EXPECT_EQ(r.code, TORCH_VERSION_MAJOR >= 2 ? 0 : 2) << r.output;
}

// eval.match = proassist: what it needs is checked before any clip is streamed (exit 2, naming the key).
TEST(StreamE2E, ProAssistMatchUsageErrors) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  auto expect_usage = [&](const std::string& extra, const std::string& key) {
    auto r = test::run_program(eval_cmd(s, s.dir + "/o_proassist", extra));
    EXPECT_EQ(r.code, 2) << extra << "\n" << r.output;
    EXPECT_NE(r.output.find(key), std::string::npos) << extra << "\n" << r.output;
  };
  expect_usage("--eval.match=semantic", "eval.match");
  expect_usage("--eval.match=proassist", "eval.sentence_encoder");
  expect_usage("--eval.match=proassist --eval.sentence_encoder=" + s.dir + "/no_encoder", "eval.sentence_encoder");
  expect_usage("--eval.match=proassist --eval.sentence_encoder=" + s.dir + " --eval.match_windows=ego4d=1:2",
               "eval.match_windows");
  expect_usage("--eval.match=proassist --eval.sentence_encoder=" + s.dir + " --eval.meteor_jar=" + s.dir + "/no.jar",
               "eval.meteor_jar");
  expect_usage("--eval.meteor_jar=" + s.dir + "/no.jar", "eval.meteor_jar");
}

// SPEC §8: the stream shows every frame, whatever data.frames trained on (`turns` would show only the
// frames of the reference turns, which tells the model where the events are).
TEST(StreamE2E, EvalShowsEveryFrameWhateverDataFrames) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  Store store(s.cfg.data.test);
  auto tok = load_tokenizer(s.cfg.data.tokenizer);
  ChatTemplate tmpl = make_chat_template("plain", *tok);
  DataConfig d = s.cfg.data;
  d.frames = "turns";
  SeqOptions opt = seq_options(d, static_cast<int32_t>(tok->vocab_size()), store.fps());
  int64_t checked = 0;
  for (int64_t c = 0; c < store.num_clips(); ++c) {
    Clip clip = store.clip(c);
    auto count_frames = [](const auto& items) {
      int64_t n = 0;
      for (const auto& it : items) n += it.is_frame;
      return n;
    };
    if (count_frames(stream_items(clip, opt)) == clip.num_frames()) continue;  // turns cover every frame
    std::vector<float> rows = store.read_clip(c);
    eval::StreamClip sc = eval::stream_input(clip, rows, store.embedding_dim(), store.fps(), tmpl, opt);
    EXPECT_EQ(count_frames(sc.items), clip.num_frames()) << clip.id();
    ++checked;
  }
  EXPECT_GT(checked, 0) << "no clip whose turns leave frames out: the test shows nothing";
}

// A checkpoint trained without DST turns (its trainer.json config) is evaluated without them by a
// configuration that does not set data.dst_turns: no DST head asked, no state turn in re-encoded windows.
TEST(StreamE2E, NoDstCheckpointIsEvaluatedWithoutDstTurns) {
  const auto& s = test::tiny_eval("evalstream_e2e");
  std::string ck = s.dir + "/ckpt_nodst/step-000003";
  fs::create_directories(ck);
  for (const auto& f : fs::directory_iterator(s.model)) fs::copy_file(f.path(), ck + "/" + f.path().filename().string(), fs::copy_options::overwrite_existing);
  fs::copy_file(s.cfg.data.tokenizer, ck + "/tokenizer.model", fs::copy_options::overwrite_existing);
  Config trained = s.cfg;
  trained.data.dst_turns = false;
  nlohmann::json t = {{"step", 3}, {"epoch", 0}, {"epoch_step", 3}, {"config", to_ini(trained)}, {"template", "plain"},
                      {"tokenizer", "tokenizer.model"}};
  std::ofstream(ck + "/trainer.json") << t.dump(2);
  ASSERT_TRUE(s.cfg.data.dst_turns);
  eval::EvalSetup setup = eval::make_eval_setup(s.cfg, ck, "test", "");
  EXPECT_FALSE(setup.cfg.data.dst_turns);
  EXPECT_EQ(eval::eval_config_json(setup)["data"]["dst_turns"], false);
}
