// The BLAS behind LibTorch's CPU matrix products, as this process loaded it, and whether its thread
// count follows the intra-op thread count (at::set_num_threads, which the programs set from
// train.threads).
//
// Debian's LibTorch calls libblas.so.3, which the alternatives system points at OpenBLAS (built with
// OpenMP, with pthreads, or sequential) or at the reference BLAS. The OpenMP build takes its thread
// count from OpenMP at every call, and at::set_num_threads sets OpenMP's. The pthreads build fixes
// its count when it loads (OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else every core): results
// would then depend on the environment (two runs of one job round differently, and bitwise resume,
// SPEC §6, breaks) and on install order (libopenblas0-pthread has the higher priority).
// tools/install_deps.sh selects the OpenMP build; programs that compute call require_controlled_blas()
// at start, which refuses the pthreads build with the fix in the message.
//
// PyPI's torch wheel (the LibTorch 2.x build, docs/cluster.md) carries its own BLAS instead: Intel MKL
// linked into libtorch_cpu.so with its OpenMP threading layer, whose thread count at::set_num_threads
// sets too (mkl_set_num_threads). It is controlled in the same sense.
#pragma once
#include <string>

namespace prospect {

enum class BlasThreading { Sequential, Pthreads, OpenMP, Unknown };

struct BlasInfo {
  std::string library;    // the file that provides sgemm_ (real path), "" when no BLAS is loaded
  bool openblas = false;  // it is OpenBLAS (it exports openblas_get_config)
  bool reference = false; // it is Debian's reference BLAS (the alternative in .../blas/)
  bool mkl = false;       // it is Intel MKL (it exports MKL_Get_Version_String), e.g. inside libtorch_cpu.so
  std::string config;     // openblas_get_config() (version, target, MAX_THREADS) or MKL's version string
  BlasThreading threading = BlasThreading::Unknown;  // OpenBLAS: openblas_get_parallel(); MKL: OpenMP
  int threads = 1;        // openblas_get_num_threads() / mkl_get_max_threads() at the time of the call
};

BlasInfo detect_blas();
const char* threading_name(BlasThreading t);  // "sequential", "pthreads", "OpenMP", "unknown"
// Its thread count cannot differ from the intra-op thread count behind our back: OpenBLAS with
// OpenMP, or a BLAS that never threads (sequential OpenBLAS, the reference BLAS).
bool blas_is_controlled(const BlasInfo& b);
// One line for the log, e.g. "OpenBLAS 0.3.21 ... (OpenMP: threads follow the intra-op thread
// count), /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3".
std::string describe_blas(const BlasInfo& b);
// What is wrong and how to fix it; "" when the BLAS is controlled.
std::string blas_problem(const BlasInfo& b);

// At the start of every program that computes: logs describe_blas() (a warning when the BLAS never
// threads, which is slow), and throws Error (exit 1) with blas_problem() when it is not controlled.
// Logging is set up for the launcher's rank first when the program has not set it up yet.
BlasInfo require_controlled_blas();

}  // namespace prospect
