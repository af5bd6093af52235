// The programs' command lines: their own options, every config key as --section.key=value (the table
// of config.cpp), and --config FILE. Only the programs include this (it brings Boost.Program_options).
#pragma once
#include <boost/program_options.hpp>
#include <string>

#include "prospect/core/config.h"

namespace prospect {

// Parses an app's command line: its own options, every config key, and --config FILE (INI). The
// command line wins over the INI, the INI over the defaults. Unknown keys and bad values throw
// UsageError naming them. Prints --help (every option with its default) and returns false if asked.
// cfg null: the app's options only (no config keys, no --config).
bool parse_args(int argc, const char* const* argv, const std::string& usage,
                boost::program_options::options_description& app_opts, Config* cfg,
                boost::program_options::variables_map* vm);

}  // namespace prospect
