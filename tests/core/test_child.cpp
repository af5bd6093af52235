// run_in_child (core/child.h): what the child writes comes back; a crash, an exception and a silent
// child are outcomes, never the caller's end.
#include "prospect/core/child.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>

using namespace prospect;

TEST(Child, OutputComesBack) {
  ChildOutcome o = run_in_child(
      [](int fd) {
        write_all(fd, "one\n");
        write_all(fd, std::string(200000, 'x'));  // more than a pipe holds at once
      },
      30);
  EXPECT_TRUE(o.completed) << o.what();
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.output, "one\n" + std::string(200000, 'x'));
}

TEST(Child, CrashIsAnOutcome) {
  ChildOutcome o = run_in_child(
      [](int fd) {
        write_all(fd, "before\n");
        std::abort();
      },
      30);
  EXPECT_FALSE(o.completed);
  EXPECT_EQ(o.signal, SIGABRT);
  EXPECT_EQ(o.output, "before\n");
  EXPECT_NE(o.what().find("signal 6"), std::string::npos) << o.what();
}

TEST(Child, ExceptionIsExitCodeOne) {
  ChildOutcome o = run_in_child([](int) { throw std::runtime_error("bad input"); }, 30);
  EXPECT_FALSE(o.completed);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.output.find("error: bad input"), std::string::npos) << o.output;
}

TEST(Child, SilentChildIsKilled) {
  auto t0 = std::chrono::steady_clock::now();
  ChildOutcome o = run_in_child(
      [](int fd) {
        write_all(fd, "started\n");
        for (;;) pause();
      },
      0.5);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(o.stalled);
  EXPECT_FALSE(o.completed);
  EXPECT_EQ(o.output, "started\n");
  EXPECT_LT(s, 60) << "the caller waited for the stalled child";
}

// Progress resets the stall clock: 30 writes 0.1 s apart (3 s) outlast a 1.5 s stall limit.
TEST(Child, WritingChildIsNotStalled) {
  ChildOutcome o = run_in_child(
      [](int fd) {
        for (int i = 0; i < 30; ++i) {
          write_all(fd, ".");
          usleep(100000);
        }
      },
      1.5);
  EXPECT_TRUE(o.completed) << o.what();
  EXPECT_EQ(o.output, std::string(30, '.'));
}
