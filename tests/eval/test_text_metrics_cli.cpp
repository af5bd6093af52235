// prospect_eval text-metrics as a user runs it: files in, JSON out, errors with exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include "test_util.h"

namespace {

const std::string kBin = std::string(PROSPECT_BINARY_DIR) + "/prospect_eval";
const std::string kDir = std::string(PROSPECT_BINARY_DIR) + "/test_text_metrics_cli";

void write(const std::string& name, const std::string& text) { std::ofstream(kDir + "/" + name) << text; }

// Runs the command; returns the exit code, stdout + stderr in *out.
int run(const std::string& args, std::string* out) {
  std::string cmd = kBin + " text-metrics " + args + " 2>&1";
  auto c = prospect::test::run_command(cmd);
  *out = c.output;
  return c.code;
}

struct TextMetricsCli : ::testing::Test {
  void SetUp() override {
    std::system(("mkdir -p " + kDir).c_str());
    write("refs.txt",
          "now let 's move on to grinding the coffee beans\nyes that 's the one\nput the folded filter into the cone\n");
    write("hyps.txt",
          "now let 's grind the coffee beans\nyes that 's right\nnow you 'll need to put the folded filter in the cone\n");
    write("two.txt", "a\nb\n");
  }
};

}  // namespace

TEST_F(TextMetricsCli, PrintsGoldenJson) {
  std::string out;
  ASSERT_EQ(run("--refs " + kDir + "/refs.txt --hyps " + kDir + "/hyps.txt", &out), 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_NEAR(j["bleu1"].get<double>(), 0.652174, 1e-6);
  EXPECT_NEAR(j["bleu4"].get<double>(), 0.287695, 1e-6);
  EXPECT_NEAR(j["cider"].get<double>(), 3.360970, 1e-6);
}

TEST_F(TextMetricsCli, LineCountsMustAgree) {
  std::string out;
  EXPECT_EQ(run("--refs " + kDir + "/refs.txt --hyps " + kDir + "/two.txt", &out), 2);
  EXPECT_NE(out.find("3 lines"), std::string::npos) << out;
  EXPECT_NE(out.find("2 lines"), std::string::npos) << out;
}

TEST_F(TextMetricsCli, MissingFileAndBadOptions) {
  std::string out;
  EXPECT_EQ(run("--refs " + kDir + "/nope.txt --hyps " + kDir + "/two.txt", &out), 1);
  EXPECT_NE(out.find("nope.txt"), std::string::npos) << out;
  EXPECT_EQ(run("--refs " + kDir + "/refs.txt", &out), 2);
  EXPECT_EQ(run("--frobnicate 1", &out), 2);
  EXPECT_NE(out.find("frobnicate"), std::string::npos) << out;
  EXPECT_EQ(run("--help", &out), 0);
  EXPECT_NE(out.find("--hyps"), std::string::npos) << out;
}
