#include <gtest/gtest.h>

#include <sstream>

#include "prospect/core/args.h"
#include "prospect/core/error.h"

using namespace prospect;
namespace po = boost::program_options;

// Every key of SPEC §1's sections set to a value other than its default, written by hand in the form
// to_ini writes (sections in order, "key = value"). A new key belongs here too: the test counts them.
const char* kEveryKey = R"([data]
train = /data/a/train.h5
val = /data/a/val.h5
test = /data/a/test.h5
tokenizer = /data/a/tokenizer.json
template = llama3
frames = turns
system_prompt = Goal: {goal}. Steps: {steps}.
max_seq_len = 4096
neg_frame_sampling_rate = 0.25
dst_turns = false
virtual_ranks = 8
skip_invalid = true
prefetch = 5

[model]
init = /models/Llama-3.2-1B
hidden_size = 2048
intermediate_size = 8192
num_hidden_layers = 16
num_attention_heads = 32
num_key_value_heads = 8
vocab_size = 128256
feature_dim = 1152
rms_norm_eps = 1e-06
rope_theta = 500000
tie_word_embeddings = false
gradient_checkpointing = true
freeze = embed_tokens,layers\.[0-3]\.
dtype = bf16
device = cuda
dst_state_head = true
dst_state_steps = 24
lora_rank = 8
lora_alpha = 32
lora_dropout = 0.05
lora_targets = q,v

[loss]
decision = focal
focal_alpha = 0.5
focal_gamma = 1.5
w_speaking_gen = 0.5
w_speaking = 2
w_dst_gen = 0.75
w_dst_update = 3
state_loss = focal
state_focal_gamma = 1
w_dst_state = 0.25

[optim]
lr = 0.0003
min_lr = 3e-05
warmup_steps = 100
weight_decay = 0.01
beta1 = 0.8
beta2 = 0.999
eps = 1e-06
grad_clip = 0.5

[train]
max_steps = 77
micro_batch_size = 2
grad_accum = 8
pack = true
save_every = 25
keep_last = 5
seed = 42
threads = 3
max_bad_steps = 9
val_every = 50
log_every = 1
inexact_resume = true

[dist]
timeout_s = 600.5
save_timeout_s = 7200.5
backend = nccl
bucket_mb = 12.5
overlap = false

[eval]
speak_threshold = 0.3
dst_threshold = 0.7
match_before_s = 1
match_after_s = 6
overflow_keep = 512
context_strategy = summarize_and_drop
reserved_tokens = 64
keep_last_tokens = 256
summary_max_tokens = 100
max_turns_per_frame = 2
max_new_tokens = 32
match = proassist
sentence_encoder = /models/all-mpnet-base-v2
meteor_jar = /opt/meteor-1.5.jar
match_windows = ego4d=-4:8.5,*=-2:3
)";

TEST(Config, EveryKeyReadAndWrittenBack) {
  Config c;
  load_ini_text(kEveryKey, c);
  EXPECT_EQ(to_ini(c), kEveryKey);
  // A few typed fields, read as a user means them.
  EXPECT_EQ(c.data.system_prompt, "Goal: {goal}. Steps: {steps}.");
  EXPECT_EQ(c.data.template_name, "llama3");
  EXPECT_FALSE(c.data.dst_turns);
  EXPECT_DOUBLE_EQ(c.data.neg_frame_sampling_rate, 0.25);
  EXPECT_EQ(c.model.freeze, "embed_tokens,layers\\.[0-3]\\.");
  EXPECT_DOUBLE_EQ(c.model.rms_norm_eps, 1e-6);
  EXPECT_TRUE(c.model.gradient_checkpointing);
  EXPECT_DOUBLE_EQ(c.optim.lr, 3e-4);
  EXPECT_EQ(c.train.grad_accum, 8);
  EXPECT_TRUE(c.train.pack);
  EXPECT_DOUBLE_EQ(c.dist.timeout_s, 600.5);
  EXPECT_EQ(c.eval.overflow_keep, 512);
  // Every key is in the text, and every value differs from the default: nothing passes by accident.
  std::istringstream every(kEveryKey), defaults(to_ini(Config{}));
  std::string a, b;
  size_t keys = 0;
  while (std::getline(every, a) && std::getline(defaults, b)) {
    if (a.empty() || a[0] == '[') {
      EXPECT_EQ(a, b);
      continue;
    }
    ++keys;
    EXPECT_NE(a, b) << "not a non-default value";
  }
  EXPECT_EQ(keys, config_keys(Config{}).size());
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
