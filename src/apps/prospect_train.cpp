// prospect_train: trains the DST model (mpirun -n N prospect_train --config F --run-dir D).
#include <iostream>

#include "prospect/core/config.h"
#include "prospect/core/error.h"

int main(int argc, char** argv) {
  return prospect::run_app([&] {
    namespace po = boost::program_options;
    prospect::Config cfg;
    po::options_description opts("Run");
    opts.add_options()("run-dir", po::value<std::string>()->default_value("runs/demo"), "run directory")(
        "resume", po::value<std::string>()->default_value(""), "auto | checkpoint directory");
    po::variables_map vm;
    if (!prospect::parse_args(argc, argv, "usage: prospect_train --config F --run-dir D [--section.key=value ...]",
                              opts, &cfg, &vm))
      return 0;
    std::cerr << "prospect_train: training is not available in this build\n";
    return 1;
  });
}
