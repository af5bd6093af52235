// Not built yet: prints its usage and exits 2.
#include <cstdio>

#include "subcommands.h"

namespace prospect::apps {

int lm_tokenize(int argc, const char* const* argv) {
  std::fprintf(stderr, "%s: not available in this build\n", argv[0]);
  return kExitUsage;
}

}  // namespace prospect::apps
