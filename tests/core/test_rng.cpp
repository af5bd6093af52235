#include <gtest/gtest.h>

#include "prospect/core/rng.h"

using namespace prospect;

TEST(Rng, GoldenValues) {
  // splitmix64 reference values (Vigna's splitmix64 with state 0 then 0x9E37...: first outputs).
  EXPECT_EQ(splitmix64(0), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
}

TEST(Rng, Deterministic) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
}
