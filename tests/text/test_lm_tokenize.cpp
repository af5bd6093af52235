// prospect_lm tokenize end to end: JSON strings in, id arrays out; a bad line is exit 1.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "text_test_util.h"
#include "test_util.h"

namespace {

// Runs `prospect_lm tokenize` with `input` on stdin; returns (exit code, stdout).
std::pair<int, std::string> run_tokenize(const std::string& args, const std::string& input) {
  // one input file per process and call: ctest runs the cases in parallel
  static int call = 0;
  std::string in = std::string(PROSPECT_BINARY_DIR) + "/test_lm_tokenize_" + std::to_string(getpid()) + "_" +
                   std::to_string(call++) + ".jsonl";
  std::ofstream(in, std::ios::binary) << input;
  std::string cmd = std::string(PROSPECT_BINARY_DIR) + "/prospect_lm tokenize " + args + " < " + in + " 2>/dev/null";
  auto c = prospect::test::run_command(cmd);
  std::remove(in.c_str());
  return {c.code, c.output};
}

}  // namespace

TEST(LmTokenize, Llama3Lines) {
  auto [rc, out] = run_tokenize("--tokenizer " + prospect::test::llama3_path(),
                                "\"Hello World\"\n\"I'm <|eot_id|>here  \\n\\n x\"\n\"\"\n\"12345678\"\n");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "[9906,4435]\n[40,2846,220,128009,6881,19124,865]\n[]\n[4513,10961,2495]\n");
}

TEST(LmTokenize, Offsets) {
  auto [rc, out] = run_tokenize("--offsets --tokenizer " + prospect::test::llama3_path(), "\"Hello World\"\n");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "{\"ids\": [9906,4435], \"offsets\": [[0,5],[5,11]]}\n");
}

TEST(LmTokenize, BadInput) {
  auto [rc, out] = run_tokenize("--tokenizer " + prospect::test::tiny_path(), "\"<|eot|>\"\nnot json\n\"never\"\n");
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(out, "[661]\n");  // the good line before the bad one, nothing after
  EXPECT_EQ(run_tokenize("--tokenizer " + prospect::test::tiny_path(), "[1, 2]\n").first, 1);
  EXPECT_EQ(run_tokenize("--tokenizer /nonexistent/tokenizer.json", "\"x\"\n").first, 1);
  EXPECT_EQ(run_tokenize("", "\"x\"\n").first, 2);               // --tokenizer missing
  EXPECT_EQ(run_tokenize("--bogus", "\"x\"\n").first, 2);        // unknown option
}
