// prospect_data inspect F.h5: counts, dims, frames, turns per role, steps per clip, token estimate.
#include <cstdio>
#include <iostream>

#include "data_args.h"
#include "prospect/data/inspect.h"
#include "subcommands.h"

namespace prospect::apps {

int data_inspect(int argc, const char* const* argv) {
  return run_app([&] {
    namespace po = boost::program_options;
    bool as_json = false;
    po::options_description opts("inspect");
    opts.add_options()("json", po::bool_switch(&as_json), "print the statistics as one JSON object");
    po::variables_map vm;
    std::string usage = std::string("usage: ") + argv[0] + " F.h5 [--json]";
    if (!parse_data_args(argc, argv, usage, opts, "store", vm)) return 0;
    nlohmann::json s = inspect_store(vm["store"].as<std::string>());
    if (as_json)
      std::cout << s.dump(2) << "\n";
    else
      std::cout << format_inspection(s);
    return 0;
  });
}

}  // namespace prospect::apps
