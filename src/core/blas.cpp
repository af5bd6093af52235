// Which BLAS is loaded: the library that provides sgemm_ (dladdr), and OpenBLAS's own report of its
// build (openblas_get_config, openblas_get_parallel) looked up in that library and its dependencies.
#include "prospect/core/blas.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <filesystem>

#include "prospect/core/error.h"
#include "prospect/core/log.h"

namespace prospect {

namespace {

template <typename F>
F lookup(void* handle, const char* name) {
  return reinterpret_cast<F>(dlsym(handle, name));
}

}  // namespace

BlasInfo detect_blas() {
  BlasInfo b;
  void* gemm = dlsym(RTLD_DEFAULT, "sgemm_");  // what LibTorch's calls bind to
  Dl_info where{};
  if (!gemm || !dladdr(gemm, &where) || !where.dli_fname) return b;
  std::error_code ec;
  auto real = std::filesystem::canonical(where.dli_fname, ec);
  b.library = ec ? where.dli_fname : real.string();
  // A handle on the library already loaded: dlsym on it searches it and its dependencies
  // (libblas.so.3 of OpenBLAS is a thin layer over libopenblas.so.0).
  void* h = dlopen(where.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  if (h) {
    auto get_config = lookup<char* (*)()>(h, "openblas_get_config");
    auto get_parallel = lookup<int (*)()>(h, "openblas_get_parallel");
    auto get_threads = lookup<int (*)()>(h, "openblas_get_num_threads");
    if (get_config && get_parallel && get_threads) {
      b.openblas = true;
      b.config = get_config();
      int p = get_parallel();  // 0 sequential, 1 pthreads ("platform threads"), 2 OpenMP
      b.threading = p == 0 ? BlasThreading::Sequential
                  : p == 1 ? BlasThreading::Pthreads
                  : p == 2 ? BlasThreading::OpenMP
                           : BlasThreading::Unknown;
      b.threads = get_threads();
    }
    // MKL as LibTorch 2.x wheels link it: statically, with the OpenMP (GNU) threading layer, and
    // at::set_num_threads calls mkl_set_num_threads.
    auto mkl_version = lookup<void (*)(char*, int)>(h, "MKL_Get_Version_String");
    auto mkl_threads = lookup<int (*)()>(h, "mkl_get_max_threads");
    if (!b.openblas && mkl_version && mkl_threads) {
      b.mkl = true;
      char buf[256] = {};
      mkl_version(buf, sizeof buf - 1);
      b.config = buf;
      b.threading = BlasThreading::OpenMP;
      b.threads = mkl_threads();
    }
    dlclose(h);
  }
  // Debian's reference BLAS (libblas3) is the alternative in <libdir>/blas/: single-threaded.
  if (!b.openblas && real.parent_path().filename() == "blas") {
    b.reference = true;
    b.threading = BlasThreading::Sequential;
  }
  return b;
}

const char* threading_name(BlasThreading t) {
  switch (t) {
    case BlasThreading::Sequential: return "sequential";
    case BlasThreading::Pthreads: return "pthreads";
    case BlasThreading::OpenMP: return "OpenMP";
    case BlasThreading::Unknown: break;
  }
  return "unknown";
}

bool blas_is_controlled(const BlasInfo& b) {
  return !b.library.empty() && (b.threading == BlasThreading::OpenMP || b.threading == BlasThreading::Sequential);
}

std::string describe_blas(const BlasInfo& b) {
  if (b.library.empty()) return "no BLAS loaded";
  std::string what = b.openblas || b.mkl ? b.config : b.reference ? "reference BLAS" : "an unknown BLAS";
  std::string how;
  switch (b.threading) {
    case BlasThreading::OpenMP: how = "OpenMP: threads follow the intra-op thread count"; break;
    case BlasThreading::Sequential: how = "sequential: one thread, slower than OpenBLAS with OpenMP"; break;
    case BlasThreading::Pthreads: how = fmt::format("pthreads: {} threads fixed when it loaded", b.threads); break;
    case BlasThreading::Unknown: how = "threading unknown"; break;
  }
  return fmt::format("{} ({}), {}", what, how, b.library);
}

std::string blas_problem(const BlasInfo& b) {
  if (blas_is_controlled(b)) return "";
  if (b.library.empty()) return "no BLAS is loaded (LibTorch's libblas.so.3 was expected)";
  const char* fix =
      "select OpenBLAS built with OpenMP: run tools/install_deps.sh, or as root `update-alternatives --set "
      "libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3` (and the same for "
      "liblapack.so.3), or without root run with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp "
      "(package libopenblas0-openmp)";
  if (b.threading == BlasThreading::Pthreads)
    return fmt::format(
        "the BLAS is {}: OpenBLAS built with pthreads fixes its {} threads when it loads (OPENBLAS_NUM_THREADS, "
        "else OMP_NUM_THREADS, else every core) instead of following train.threads, so results would depend on "
        "the environment and bitwise resume breaks; {}",
        describe_blas(b), b.threads, fix);
  return fmt::format("the BLAS is {}: its threading cannot be checked, so results could depend on the environment; {}",
                     describe_blas(b), fix);
}

BlasInfo require_controlled_blas() {
  // At start there is no communicator yet: the launcher's rank names the lines.
  if (spdlog::default_logger()->name() != "prospect") init_logging(launcher_rank());
  BlasInfo b = detect_blas();
  std::string problem = blas_problem(b);
  if (!problem.empty()) throw Error(problem);
  if (b.threading == BlasThreading::Sequential)
    spdlog::warn("BLAS: {}", describe_blas(b));
  else
    spdlog::info("BLAS: {}", describe_blas(b));
  return b;
}

}  // namespace prospect
