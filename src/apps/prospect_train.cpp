// prospect_train: trains the DST model (mpirun -n N prospect_train --config F --run-dir D [--resume auto]).
#include "prospect/core/args.h"
#include "prospect/core/blas.h"
#include "prospect/core/error.h"
#include "prospect/distributed/signals.h"
#include "prospect/train/trainer.h"

int main(int argc, char** argv) {
  prospect::install_stop_signal_handlers();
  return prospect::run_app([&] {
    namespace po = boost::program_options;
    prospect::Config cfg;
    po::options_description opts("Run");
    opts.add_options()("run-dir", po::value<std::string>()->default_value("runs/demo"), "run directory")(
        "resume", po::value<std::string>()->default_value("", "\"\""),
        "auto (continue from checkpoints/latest, fresh when none) | a checkpoint folder");
    po::variables_map vm;
    if (!prospect::parse_args(argc, argv, "usage: prospect_train --config F --run-dir D [--resume auto] [--section.key=value ...]",
                              opts, &cfg, &vm))
      return 0;
    prospect::require_controlled_blas();
    prospect::TrainArgs args;
    args.run_dir = vm["run-dir"].as<std::string>();
    args.resume = vm["resume"].as<std::string>();
    return prospect::run_training(cfg, args);
  });
}
