// What the training tests share: the tiny dataset's command line, and stores made defective from it.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "prospect/data/store.h"
#include "test_util.h"
#include "tiny_store.h"

namespace prospect::test {

// The tiny synthetic dataset of the trainer tests (16 videos, 16-d features), made once per build tree.
inline std::string tiny_train_data() { return synth_data("test_train_data", 16, 16); }

// prospect_train's arguments for a 2-layer model on the tiny dataset (1 thread per rank); a store given
// replaces the dataset's split (options may not repeat).
struct TinyStores {
  std::string train, val, test;
};
inline std::string tiny_train_args(const std::string& run_dir, const TinyStores& stores = {}) {
  const std::string d = tiny_train_data();
  auto or_default = [&](const std::string& s, const char* split) { return s.empty() ? d + "/" + split + ".h5" : s; };
  return " --run-dir " + run_dir + " --data.train=" + or_default(stores.train, "train") +
         " --data.val=" + or_default(stores.val, "val") + " --data.test=" + or_default(stores.test, "test") +
         " --data.tokenizer=" + d +
         "/tokenizer.model --data.max_seq_len=256 --model.hidden_size=32 --model.intermediate_size=64"
         " --model.num_hidden_layers=2 --model.num_attention_heads=2 --model.num_key_value_heads=1"
         " --train.micro_batch_size=2 --train.threads=1 --train.val_every=0";
}

// A copy of the store src at dst (float32 rows) in which row `row` of clip `bad` holds a NaN.
inline void copy_store_with_nan(const std::string& src, const std::string& dst, int64_t bad, int64_t row = 0) {
  Store s(src);
  StoreWriter w(dst, s.embedding_dim(), s.fps(), "synthetic", false);
  for (int64_t c = 0; c < s.num_clips(); ++c) {
    std::vector<float> rows = s.read_clip(c);
    if (c == bad) rows.at(row * s.embedding_dim() + 1) = std::nanf("");
    w.add_clip(s.clip(c), rows.data(), s.clip_rows(c));
  }
  w.close();
}

}  // namespace prospect::test
