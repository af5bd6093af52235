// Prefetcher is a template (include/prospect/data/prefetch.h); this unit instantiates it once so
// the header is compiled with the library's warnings.
#include "prospect/data/prefetch.h"

#include <vector>

namespace prospect {
template class Prefetcher<std::vector<float>>;
}  // namespace prospect
