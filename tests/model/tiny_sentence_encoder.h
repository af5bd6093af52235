// A tiny random BERT sentence-transformers folder (hidden 8, 2 layers, 2 heads, 20 tokens of
// vocabulary with a vocab.txt), for tests of the encoder's contracts and of what uses it.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "prospect/model/safetensors.h"

namespace prospect::test {

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// Writes the folder into dir (which must exist); pooling_mode names the one pooling mode set true.
inline void write_tiny_bert(const std::filesystem::path& d, const std::string& pooling_mode = "pooling_mode_mean_tokens") {
  write_text(d / "config.json", R"({"model_type":"bert","vocab_size":20,"hidden_size":8,"num_hidden_layers":2,
      "num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":16,"type_vocab_size":2,
      "layer_norm_eps":1e-12,"hidden_act":"gelu"})");
  write_text(d / "modules.json", R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
      {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
      {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}])");
  write_text(d / "1_Pooling" / "config.json", "{\"word_embedding_dimension\":8,\"" + pooling_mode + "\":true}");
  write_text(d / "sentence_bert_config.json", R"({"max_seq_length":16,"do_lower_case":false})");
  write_text(d / "vocab.txt",
             "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nopen\nthe\nlid\nclose\nbox\nscrew\ntighten\nwheel\nnow\n.\n,\n!\n"
             "blue\ncable\nred\n");
  write_text(d / "tokenizer_config.json", R"({"do_lower_case":true})");
  at::manual_seed(3);
  NamedTensors t = {{"embeddings.word_embeddings.weight", at::randn({20, 8})},
                    {"embeddings.position_embeddings.weight", at::randn({16, 8})},
                    {"embeddings.token_type_embeddings.weight", at::randn({2, 8})},
                    {"embeddings.LayerNorm.weight", at::ones({8})},
                    {"embeddings.LayerNorm.bias", at::zeros({8})}};
  for (int l = 0; l < 2; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"})
      t.push_back({p + m + ".weight", at::randn({8, 8})}), t.push_back({p + m + ".bias", at::randn({8})});
    t.push_back({p + "intermediate.dense.weight", at::randn({16, 8})});
    t.push_back({p + "intermediate.dense.bias", at::randn({16})});
    t.push_back({p + "output.dense.weight", at::randn({8, 16})});
    t.push_back({p + "output.dense.bias", at::randn({8})});
    for (const char* m : {"attention.output.LayerNorm", "output.LayerNorm"})
      t.push_back({p + m + ".weight", at::ones({8})}), t.push_back({p + m + ".bias", at::zeros({8})});
  }
  save_safetensors_dir(d.string(), t);
}

}  // namespace prospect::test
