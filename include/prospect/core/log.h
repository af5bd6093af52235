// Logging through spdlog with the rank in every line. Rank 0 prints progress (info); other ranks
// print warnings and errors only, unless all_ranks is set. An optional file gets every line of
// this rank (train.log in the run directory).
#pragma once
#include <spdlog/spdlog.h>
#include <string>

namespace prospect {

void init_logging(int rank, bool all_ranks = false, const std::string& file = "");
void set_log_file(const std::string& file);  // adds a file sink to the current logger

}  // namespace prospect
