// The only file that sees the revision: a new commit recompiles this file, not the whole library.
#include "prospect/core/version.h"

namespace prospect {

const char* version() { return PROSPECT_VERSION; }
const char* git_revision() { return PROSPECT_GIT_REV; }

}  // namespace prospect
