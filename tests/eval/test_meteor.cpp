// eval.meteor_jar that cannot be used is a usage error naming the jar, never a crash or a hang (the
// scores against pycocoevalcap: the oracle test oracle_meteor.py).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "prospect/core/error.h"
#include "prospect/eval/meteor.h"
#include "test_util.h"

using prospect::UsageError;
using prospect::eval::MeteorScorer;
using prospect::test::fresh_dir;

namespace {

std::string usage_message(const std::string& jar, const std::string& java = "java") {
  try {
    MeteorScorer m(jar, java, 60);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Meteor, MissingJarIsAUsageError) {
  std::filesystem::path d = fresh_dir("eval_meteor_missing");
  std::string msg = usage_message((d / "meteor-1.5.jar").string());
  EXPECT_NE(msg.find("meteor-1.5.jar"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a readable file"), std::string::npos) << msg;
  EXPECT_NE(usage_message(d.string()).find("not a readable file"), std::string::npos);  // a folder
}

TEST(Meteor, NoJavaIsAUsageError) {
  std::filesystem::path d = fresh_dir("eval_meteor_nojava");
  std::ofstream(d / "meteor-1.5.jar") << "x";
  std::string msg = usage_message((d / "meteor-1.5.jar").string(), (d / "no-such-java").string());
  EXPECT_NE(msg.find("cannot start"), std::string::npos) << msg;
}

TEST(Meteor, NotAJarIsAUsageError) {
  // With Java: it refuses the file and ends; without Java: it cannot start. A usage error either way.
  std::filesystem::path d = fresh_dir("eval_meteor_notajar");
  std::ofstream(d / "meteor-1.5.jar") << "not a jar\n";
  std::string msg = usage_message((d / "meteor-1.5.jar").string());
  EXPECT_NE(msg.find("meteor-1.5.jar"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("not a readable file"), std::string::npos) << msg;  // the file was there
}
