// prospect_data: build, inspect and validate the HDF5 embedding stores; make the synthetic dataset.
#include "subcommands.h"

int main(int argc, char** argv) {
  using namespace prospect::apps;
  static const Subcommand table[] = {
      {"synth", data_synth, "make the learnable synthetic dataset (stores + tokenizer)"},
      {"build", data_build, "build a store from clip JSON and per-clip .npy embeddings"},
      {"inspect", data_inspect, "counts, dims, frames, turn statistics of a store"},
      {"validate", data_validate, "check a store; exit 0 (warnings only) or 1 (errors)"},
  };
  return dispatch("prospect_data", argc, argv, table, 4);
}
