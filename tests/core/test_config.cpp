#include <gtest/gtest.h>

#include "prospect/core/args.h"
#include "prospect/core/error.h"

using namespace prospect;
namespace po = boost::program_options;

TEST(Config, IniRoundTripKeepsEveryKey) {
  Config a;
  a.optim.lr = 3.5e-4;
  a.data.template_name = "llama3";
  a.model.gradient_checkpointing = true;
  a.train.max_steps = 77;
  Config b;
  load_ini_text(to_ini(a), b);
  EXPECT_EQ(to_ini(a), to_ini(b));
  EXPECT_DOUBLE_EQ(b.optim.lr, 3.5e-4);
  EXPECT_EQ(b.data.template_name, "llama3");
  EXPECT_TRUE(b.model.gradient_checkpointing);
}

TEST(Config, CommandLineOverridesIni) {
  std::string path = testing::TempDir() + "/c.ini";
  {
    FILE* f = fopen(path.c_str(), "w");
    fputs("[optim]\nlr = 0.01\nmin_lr = 0.001\n[train]\nmax_steps = 5\n", f);
    fclose(f);
  }
  Config cfg;
  po::options_description opts;
  po::variables_map vm;
  const char* argv[] = {"prog", "--config", path.c_str(), "--optim.lr=3e-4"};
  ASSERT_TRUE(parse_args(4, argv, "usage", opts, &cfg, &vm));
  EXPECT_DOUBLE_EQ(cfg.optim.lr, 3e-4);      // command line wins
  EXPECT_DOUBLE_EQ(cfg.optim.min_lr, 0.001);  // INI over default
  EXPECT_EQ(cfg.train.max_steps, 5);
}

TEST(Config, UnknownKeyIsUsageError) {
  Config cfg;
  EXPECT_THROW(load_ini_text("[optim]\nlearning_rate = 1\n", cfg), UsageError);
  po::options_description opts;
  po::variables_map vm;
  const char* argv[] = {"prog", "--optim.nope=1"};
  EXPECT_THROW(parse_args(2, argv, "usage", opts, &cfg, &vm), UsageError);
}

TEST(Config, BadValueIsUsageErrorNamingKey) {
  Config cfg;
  po::options_description opts;
  po::variables_map vm;
  const char* argv[] = {"prog", "--loss.decision=hinge"};
  try {
    parse_args(2, argv, "usage", opts, &cfg, &vm);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("loss.decision"), std::string::npos) << e.what();
  }
  const char* argv2[] = {"prog", "--optim.lr=fast"};
  EXPECT_THROW(parse_args(2, argv2, "usage", opts, &cfg, &vm), UsageError);
}
