// The streaming loop's ContextModel (stream.h) on a DSTProActLlama with a KV cache
// (IncrementalDecoder, model/generate.h): one window of at most max_len positions, frames through the
// projector, greedy generation with `<image>` masked.
#pragma once
#include <memory>

#include "prospect/eval/stream.h"
#include "prospect/model/dst_model.h"

namespace prospect::eval {

std::unique_ptr<ContextModel> make_kv_cache_model(DSTProActLlama model, int64_t max_len);

}  // namespace prospect::eval
