// Compares the weights of two checkpoints (SPEC §9): for every tensor of model.safetensors and
// prospect.safetensors, max|a - b| / max(max|b|, 1e-8); the worst tensor counts. Also loads the
// first checkpoint as a model, so a truncated or half-written one fails here.
// usage: compare_checkpoints CKPT_A CKPT_B [TOLERANCE]   (tolerance 0 = bitwise)
// Exit 0 when the worst relative difference is <= TOLERANCE, 1 otherwise (or on a load error).
#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "prospect/core/error.h"
#include "prospect/model/dst_model.h"
#include "prospect/model/safetensors.h"

using namespace prospect;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CKPT_A CKPT_B [TOLERANCE]\n", argv[0]);
    return 2;
  }
  const std::string a = argv[1], b = argv[2];
  const double tol = argc > 3 ? std::atof(argv[3]) : 0.0;
  return run_app([&] {
    at::set_num_threads(1);
    load_dst_model(a);  // the checkpoint loads as a model
    double worst = 0;
    std::string worst_name;
    for (const char* file : {"model.safetensors", "prospect.safetensors"}) {
      TensorMap x = load_safetensors(a + "/" + file), y = load_safetensors(b + "/" + file);
      PROSPECT_CHECK(x.size() == y.size(), "{}: {} tensors in {}, {} in {}", file, x.size(), a, y.size(), b);
      for (auto& [k, t] : x) {
        auto it = y.find(k);
        PROSPECT_CHECK(it != y.end(), "{}: tensor {} of {} missing in {}", file, k, a, b);
        PROSPECT_CHECK(t.sizes() == it->second.sizes(), "{}: tensor {} has different shapes", file, k);
        at::Tensor ta = t.to(at::kDouble), tb = it->second.to(at::kDouble);
        double diff = (ta - tb).abs().max().item<double>();
        double scale = std::max(tb.abs().max().item<double>(), 1e-8);
        if (worst_name.empty() || diff / scale > worst) {
          worst = diff / scale;
          worst_name = k;
        }
      }
    }
    std::printf("worst relative difference %.3g (%s), tolerance %.3g\n", worst, worst_name.c_str(), tol);
    return worst <= tol ? 0 : 1;
  });
}
