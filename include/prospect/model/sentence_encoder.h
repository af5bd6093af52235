// A sentence-transformers encoder in LibTorch: the transformer of a sentence-transformers folder
// (modules.json: Transformer, Pooling, optionally Normalize), run on token ids, mean-pooled over the
// attention mask and L2-normalised, as SentenceTransformer.encode computes it. Two architectures, by
// config.json's model_type, with HF's weight names (an optional "bert." / "mpnet." prefix is accepted):
//   bert  (all-MiniLM-L6-v2): word + absolute position + token type 0 embeddings, LayerNorm; per layer
//         self-attention (scores / sqrt(head_dim) + padding mask, softmax), output dense + residual +
//         LayerNorm, intermediate dense + GELU (erf), output dense + residual + LayerNorm.
//   mpnet (all-mpnet-base-v2): word + position embeddings with positions padding_idx + 1, + 2, ...
//         counted over non-padding tokens (padding tokens at padding_idx), LayerNorm; every layer adds
//         one relative position bias to the scores: T5-style buckets of key - query position (32
//         buckets, max distance 128; half for each sign, 8 exact, the rest logarithmic), computed with
//         the same float32 LibTorch operations as HF (so the bucket boundaries fall where HF's do).
// Pooling must be mean tokens only (pooling_mode_mean_tokens); other modes are a UsageError.
// The encoder takes ids with their special tokens (WordPiece's encode_for_model gives them, cut to
// max_seq_length() from sentence_bert_config.json). Batches are padded to their longest text; what a
// text's embedding is does not depend on the others in its batch beyond float rounding of the padded
// shapes, so callers that want bit-identical results always batch the same texts together.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace prospect {

struct SentenceEncoderConfig {
  std::string model_type;  // "bert" | "mpnet"
  int64_t vocab_size = 0, hidden = 0, layers = 0, heads = 0, intermediate = 0;
  int64_t max_positions = 0;
  int64_t type_vocab_size = 0;            // bert
  int64_t relative_buckets = 32;          // mpnet
  int64_t padding_idx = 1;                // mpnet: pad_token_id (positions and the padding token)
  double layer_norm_eps = 1e-12;
  int64_t max_seq_length = 512;           // sentence_bert_config.json
  bool normalize = false;                 // modules.json has a Normalize module
};

class SentenceEncoder {
 public:
  // Reads config.json, modules.json, 1_Pooling/config.json (or the pooling folder modules.json names),
  // sentence_bert_config.json and the weights (model.safetensors or its sharded index). Errors name
  // the file and the field or tensor.
  explicit SentenceEncoder(const std::string& dir);

  // [n, hidden] float32 CPU embeddings of n texts given as ids (n may be 0). Error for an empty id
  // list, an id outside the vocabulary, or more ids than max_positions allows.
  at::Tensor embed(const std::vector<std::vector<int32_t>>& ids) const;

  const SentenceEncoderConfig& config() const { return cfg_; }

  // MPNet's bucket of every (query, key) pair of a length-n sequence: [n, n] int64 (for tests).
  static at::Tensor relative_buckets(int64_t n, int64_t num_buckets, int64_t max_distance = 128);

 private:
  struct Layer {
    at::Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, out_w, out_b, ln2_w, ln2_b;
  };
  SentenceEncoderConfig cfg_;
  at::Tensor word_, pos_, type_, ln_w_, ln_b_, rel_bias_;
  std::vector<Layer> layers_;
};

}  // namespace prospect
