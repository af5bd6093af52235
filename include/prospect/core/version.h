// The project's version and the git revision it was built from (recorded in checkpoints and logs).
#pragma once

namespace prospect {

const char* version();       // e.g. "0.1.0"
const char* git_revision();  // short hash at configure time, or "unknown"

}  // namespace prospect
