// Statistics of a store (prospect_data inspect): counts, dims, frames, turns per role, steps per clip,
// a token estimate (no tokenizer: ~4 characters a token, 1 token a frame, 3 per turn for the template).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace prospect {

nlohmann::json inspect_store(const std::string& path);
std::string format_inspection(const nlohmann::json& stats);

}  // namespace prospect
