// Command-line parsing shared by prospect_data's subcommands: options plus positional file arguments.
#pragma once
#include <boost/program_options.hpp>
#include <iostream>
#include <string>

#include "prospect/core/error.h"

namespace prospect::apps {

// An option's default as --help shows it: "" for the empty string (Boost would show nothing).
inline std::string shown_default(const std::string& v) { return v.empty() ? "\"\"" : v; }

// Returns false after printing --help. Unknown options and missing positionals are UsageErrors.
inline bool parse_data_args(int argc, const char* const* argv, const std::string& usage,
                            boost::program_options::options_description& opts, const char* positional,
                            boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  po::options_description all("Options");
  all.add_options()("help,h", "print this help and exit");
  all.add(opts);
  po::options_description hidden;
  po::positional_options_description pos;
  if (positional) {
    hidden.add_options()(positional, po::value<std::string>(), "input file");
    pos.add(positional, 1);
  }
  po::options_description cmdline;
  cmdline.add(all).add(hidden);
  try {
    po::store(po::command_line_parser(argc, argv).options(cmdline).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << usage << "\n\n" << all << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  if (positional && !vm.count(positional)) usage_fail("{}: the {} argument is required", argv[0], positional);
  return true;
}

}  // namespace prospect::apps
