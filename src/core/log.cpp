#include "prospect/core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

namespace prospect {

static int g_rank = 0;

static std::string pattern() { return "%Y-%m-%d %H:%M:%S.%e [rank " + std::to_string(g_rank) + "] %^%l%$: %v"; }

void init_logging(int rank, bool all_ranks, const std::string& file) {
  g_rank = rank;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level((rank == 0 || all_ranks) ? spdlog::level::info : spdlog::level::warn);
  auto logger = std::make_shared<spdlog::logger>("prospect", console);
  logger->set_level(spdlog::level::debug);
  logger->set_pattern(pattern());
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  if (!file.empty()) set_log_file(file);
}

void set_log_file(const std::string& file) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
  sink->set_level(spdlog::level::info);
  sink->set_pattern(pattern());
  spdlog::default_logger()->sinks().push_back(sink);
}

int launcher_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 0;
}

}  // namespace prospect
