// Logging through spdlog with the rank in every line. Rank 0 prints progress (info); other ranks
// print warnings and errors only, unless all_ranks is set. An optional file gets every line of
// this rank (train.log in the run directory).
#pragma once
#include <spdlog/spdlog.h>
#include <string>

namespace prospect {

void init_logging(int rank, bool all_ranks = false, const std::string& file = "");
void set_log_file(const std::string& file);  // adds a file sink to the current logger
// The rank the launcher gave this process (OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK, SLURM_PROCID),
// 0 when started alone: for lines logged before a communicator exists.
int launcher_rank();

}  // namespace prospect
