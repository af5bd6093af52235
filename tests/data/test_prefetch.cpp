#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "prospect/data/prefetch.h"

using namespace prospect;

TEST(Prefetch, ItemsInOrderThenEnd) {
  Prefetcher<int64_t> p([](int64_t i) -> std::optional<int64_t> { return i < 50 ? std::optional<int64_t>(i * i) : std::nullopt; }, 3);
  for (int64_t i = 0; i < 50; ++i) {
    auto x = p.next();
    ASSERT_TRUE(x.has_value());
    EXPECT_EQ(*x, i * i);
  }
  EXPECT_FALSE(p.next().has_value());
  EXPECT_FALSE(p.next().has_value());
  EXPECT_EQ(p.consumed(), 50);
  EXPECT_GE(p.wait_seconds(), 0.0);
}

TEST(Prefetch, NeverMoreThanDepthAhead) {
  std::atomic<int64_t> made{0};
  Prefetcher<int64_t> p([&](int64_t i) -> std::optional<int64_t> {
    ++made;
    return i;
  }, 2);
  for (int k = 0; k < 5; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // at most depth queued + the one being made, beyond what was consumed
    EXPECT_LE(made.load(), k + 2 + 1);
    p.next();
  }
}

TEST(Prefetch, ProducerErrorIsRethrownInTheConsumer) {
  Prefetcher<int> p([](int64_t i) -> std::optional<int> {
    if (i == 3) throw std::runtime_error("clip 3: bad rows");
    return static_cast<int>(i);
  }, 2);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*p.next(), i);
  try {
    p.next();
    FAIL() << "no rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "clip 3: bad rows");
  }
}

TEST(Prefetch, DestructionWhileProducingDoesNotHang) {
  std::atomic<int> made{0};
  {
    Prefetcher<int> p([&](int64_t i) -> std::optional<int> {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ++made;
      return static_cast<int>(i);
    }, 4);
    p.next();
  }  // joins here with the producer blocked on a full queue or mid-item
  EXPECT_GE(made.load(), 1);
}

TEST(Prefetch, MeasuresTheConsumersWait) {
  Prefetcher<int> p([](int64_t i) -> std::optional<int> {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    return static_cast<int>(i);
  }, 1);
  p.next();
  EXPECT_GT(p.last_wait_seconds(), 0.005);
}
