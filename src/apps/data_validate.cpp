// prospect_data validate F.h5 [--config F]: every problem on its own line; exit 0 (warnings only) or 1.
#include <cstdio>

#include "data_args.h"
#include "prospect/core/config.h"
#include "prospect/data/validate.h"
#include "subcommands.h"

namespace prospect::apps {

int data_validate(int argc, const char* const* argv) {
  return run_app([&] {
    namespace po = boost::program_options;
    std::string config;
    bool no_values = false;
    int max_print = 0;
    po::options_description opts("validate");
    opts.add_options()
      ("config", po::value(&config)->default_value("", "\"\""), "INI config: the store's embedding_dim must equal model.feature_dim (when non-zero)")
      ("no-values", po::bool_switch(&no_values), "skip the NaN/Inf scan of every row")
      ("max-problems", po::value(&max_print)->default_value(0), "print at most this many problems (0: all)");
    po::variables_map vm;
    std::string usage = std::string("usage: ") + argv[0] + " F.h5 [--config F]";
    if (!parse_data_args(argc, argv, usage, opts, "store", vm)) return 0;
    ValidateOptions vo;
    vo.check_values = !no_values;
    vo.isolate = true;  // a damaged file may crash libhdf5: that must be a report, not a crash
    if (!config.empty()) {
      Config cfg;
      load_ini_file(config, cfg);
      vo.expected_dim = cfg.model.feature_dim;
    }
    std::string path = vm["store"].as<std::string>();
    ValidationReport rep = validate_store(path, vo);
    int printed = 0;
    for (const auto& p : rep.problems) {
      if (max_print > 0 && printed++ >= max_print) break;
      std::fprintf(p.severity == Severity::Error ? stderr : stdout, "%s\n", format_problem(p, path).c_str());
    }
    std::printf("%s: %lld clips, %lld errors, %lld warnings: %s\n", path.c_str(), (long long)rep.clips,
                (long long)rep.errors, (long long)rep.warnings, rep.ok() ? "valid" : "INVALID");
    return rep.ok() ? 0 : 1;
  });
}

}  // namespace prospect::apps
