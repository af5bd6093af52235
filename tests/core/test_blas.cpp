// The BLAS LibTorch uses must be one whose threads follow at::set_num_threads (core/blas.h): on a
// machine where libblas.so.3 points at OpenBLAS built with pthreads these tests fail, as training's
// bitwise resume would.
#include "prospect/core/blas.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>
#include <gtest/gtest.h>

#include "prospect/core/error.h"

using namespace prospect;

TEST(Blas, LoadedBlasIsControlled) {
  BlasInfo b = detect_blas();
  EXPECT_FALSE(b.library.empty());
  EXPECT_TRUE(blas_is_controlled(b)) << blas_problem(b);
  EXPECT_NO_THROW(require_controlled_blas());
}

// tools/install_deps.sh installs OpenBLAS with OpenMP (Debian's LibTorch); the torch wheel carries MKL
// with OpenMP. After at::set_num_threads(n) a large product runs on n BLAS threads (OpenBLAS reports
// the count of its last call, MKL its current maximum).
TEST(Blas, BlasThreadsFollowSetNumThreads) {
  BlasInfo b = detect_blas();
#if TORCH_VERSION_MAJOR >= 2
  ASSERT_TRUE(b.mkl || b.openblas) << describe_blas(b);
#else
  ASSERT_TRUE(b.openblas) << describe_blas(b);
#endif
  EXPECT_STREQ(threading_name(b.threading), "OpenMP") << describe_blas(b);
  at::Tensor x = at::randn({256, 256});
  const int before = at::get_num_threads();
  for (int n : {3, 2}) {  // OpenBLAS leaves its count alone for one thread: test counts above one
    at::set_num_threads(n);
    at::Tensor y = at::mm(x, x);
    EXPECT_EQ(detect_blas().threads, n) << "at::set_num_threads(" << n << "): " << describe_blas(detect_blas());
  }
  at::set_num_threads(before);
}

TEST(Blas, PthreadsBuildIsRefusedWithTheFix) {
  BlasInfo b;
  b.library = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3";
  b.openblas = true;
  b.config = "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64";
  b.threading = BlasThreading::Pthreads;
  b.threads = 2;
  EXPECT_FALSE(blas_is_controlled(b));
  std::string p = blas_problem(b);
  EXPECT_NE(p.find("pthreads"), std::string::npos) << p;
  EXPECT_NE(p.find("openblas-pthread/libblas.so.3"), std::string::npos) << p;
  EXPECT_NE(p.find("update-alternatives --set libblas.so.3-x86_64-linux-gnu "
                   "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp"), std::string::npos) << p;

  BlasInfo ref;
  ref.library = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3";
  ref.reference = true;
  ref.threading = BlasThreading::Sequential;
  EXPECT_TRUE(blas_is_controlled(ref));
  EXPECT_EQ(blas_problem(ref), "");
  EXPECT_NE(describe_blas(ref).find("reference BLAS (sequential"), std::string::npos) << describe_blas(ref);

  BlasInfo other;
  other.library = "/opt/vendor/libblas.so.3";
  EXPECT_FALSE(blas_is_controlled(other));
  EXPECT_NE(blas_problem(other).find("cannot be checked"), std::string::npos) << blas_problem(other);
}
