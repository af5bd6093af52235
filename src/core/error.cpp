#include "prospect/core/error.h"

#include <boost/program_options/errors.hpp>
#include <cstdio>

namespace prospect {

int run_app(const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "usage error: %s (see --help)\n", e.what());
    return kExitUsage;
  } catch (const boost::program_options::error& e) {
    std::fprintf(stderr, "usage error: %s (see --help)\n", e.what());
    return kExitUsage;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return kExitError;
  }
}

}  // namespace prospect
