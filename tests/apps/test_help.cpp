// SPEC §1: "--help lists every option with its default". For every program and subcommand, the
// options its --help lists are exactly the ones written down here (and every config key where the
// program takes a config), each with its default, or marked "(required)", or a switch.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "prospect/core/config.h"
#include "test_util.h"

namespace {

const char* kSwitch = "<switch>";      // takes no value (off unless given)
const char* kRequired = "<required>";  // takes a value, no default: its help says "(required)"
const char* kEmpty = "\"\"";           // the empty string, shown as ""

struct Listed {
  bool takes_value = false;
  bool has_default = false;
  std::string default_value;
  std::string help;
};

// Boost.Program_options' help: "  -h [ --help ]   text", "  --name arg (=default)   text", with
// long texts continued on the next lines.
std::map<std::string, Listed> parse_help(const std::string& text) {
  static const std::regex option(R"(^  (?:-\w \[ )?--([\w.-]+)(?: \])?( arg)?(?: \(=(.*?)\))?(?:  +(.*))?$)");
  std::map<std::string, Listed> out;
  std::string last;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, option)) {
      Listed& o = out[m[1]];
      o.takes_value = m[2].matched;
      o.has_default = m[3].matched;
      o.default_value = m[3];
      o.help = m[4];
      last = m[1];
    } else if (!last.empty() && line.size() > 2 && line[0] == ' ' && line.find_first_not_of(' ') > 10) {
      out[last].help += " " + line.substr(line.find_first_not_of(' '));
    } else {
      last.clear();
    }
  }
  return out;
}

struct Help {
  int code = -1;
  std::string text;
};
Help help_of(const std::string& program_and_command) {
  auto r = prospect::test::run_command(std::string(PROSPECT_BINARY_DIR) + "/" + program_and_command + " --help 2>&1");
  return {r.code, r.output};
}

// expected: option -> its default as --help should print it, kSwitch or kRequired. with_config: the
// program also takes --config and every key of the config table, each with the table's default.
void expect_options(const std::string& cmd, std::map<std::string, std::string> expected, bool with_config) {
  SCOPED_TRACE(cmd + " --help");
  Help h = help_of(cmd);
  ASSERT_EQ(h.code, 0) << h.text;
  std::map<std::string, Listed> listed = parse_help(h.text);
  expected["help"] = kSwitch;
  if (with_config) {
    expected["config"] = kEmpty;
    for (const auto& k : prospect::config_keys(prospect::Config{})) expected[k.name] = k.value.empty() ? kEmpty : k.value;
  }
  for (const auto& [name, want] : expected) {
    auto it = listed.find(name);
    if (it == listed.end()) {
      ADD_FAILURE() << "--" << name << " is not listed in:\n" << h.text;
      continue;
    }
    const Listed& o = it->second;
    if (want == kSwitch) {
      EXPECT_FALSE(o.takes_value) << "--" << name << " should be a switch";
    } else if (want == kRequired) {
      EXPECT_TRUE(o.takes_value) << "--" << name;
      EXPECT_NE(o.help.find("(required)"), std::string::npos) << "--" << name << ": " << o.help;
    } else {
      EXPECT_TRUE(o.takes_value) << "--" << name;
      EXPECT_TRUE(o.has_default) << "--" << name << " is listed without its default";
      EXPECT_EQ(o.default_value, want) << "--" << name;
    }
    EXPECT_FALSE(o.help.empty()) << "--" << name << " has no description";
  }
  for (const auto& [name, o] : listed)
    EXPECT_TRUE(expected.count(name)) << "--" << name << " is listed but not expected here";
}

void expect_commands(const std::string& program, const std::vector<std::string>& commands) {
  Help h = help_of(program);
  EXPECT_EQ(h.code, 0) << h.text;
  for (const auto& c : commands)
    EXPECT_TRUE(std::regex_search(h.text, std::regex("\n  " + c + " +\\S"))) << program << ": " << c << " in:\n" << h.text;
}

}  // namespace

TEST(Help, ProspectData) {
  expect_commands("prospect_data", {"synth", "build", "inspect", "validate"});
  expect_options("prospect_data synth",
                 {{"out", "data/demo"}, {"videos", "160"}, {"dim", "64"}, {"seed", "1"}, {"fps", "2"},
                  {"noise", "0.35"}, {"question-rate", "0.3"}, {"vocab", "800"}, {"dtype", "f16"},
                  {"no-tokenizer", kSwitch}, {"progress", kSwitch}},
                 false);
  expect_options("prospect_data build",
                 {{"clips", kRequired}, {"embeddings", kRequired}, {"out", kRequired},
                  {"name-template", "{video_uid}_{start_frame_idx}.npy"}, {"dtype", "f16"}, {"fps", "0"},
                  {"feature-model", kEmpty}},
                 false);
  expect_options("prospect_data inspect", {{"json", kSwitch}}, false);
  expect_options("prospect_data validate", {{"config", kEmpty}, {"no-values", kSwitch}, {"max-problems", "0"}}, false);
}

TEST(Help, ProspectTrain) {
  expect_options("prospect_train", {{"run-dir", "runs/demo"}, {"resume", kEmpty}}, true);
}

TEST(Help, ProspectEval) {
  expect_commands("prospect_eval", {"text-metrics"});
  expect_options("prospect_eval",
                 {{"checkpoint", kRequired}, {"split", "test"}, {"out", kRequired}, {"mode", "stream"},
                  {"threshold-sweep", kSwitch}},
                 true);
  expect_options("prospect_eval text-metrics", {{"refs", kRequired}, {"hyps", kRequired}}, false);
}

TEST(Help, ProspectLm) {
  expect_commands("prospect_lm", {"logits", "tokenize", "merge"});
  expect_options("prospect_lm logits",
                 {{"model", kRequired}, {"ids", kRequired}, {"adapter", kEmpty}, {"out", kEmpty}, {"threads", "0"}}, false);
  expect_options("prospect_lm merge", {{"model", kRequired}, {"adapter", kRequired}, {"out", kRequired}, {"dtype", "fp32"}},
                 false);
  expect_options("prospect_lm tokenize", {{"tokenizer", kRequired}, {"offsets", kSwitch}}, false);
}
