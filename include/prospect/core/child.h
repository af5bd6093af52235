// Work in a forked child process, for input that may crash or hang a third-party library (a damaged
// HDF5 file can do both inside libhdf5, whatever its caller checks): a crash or a stall of the child
// becomes an outcome the caller turns into an error naming the input, instead of ending or stalling
// the program.
//
// The child is a fork() of the caller: it sees the caller's memory as it was and must not touch
// locks another thread may have held at that moment. Call it where no other thread is inside the
// libraries the work uses (prospect_data validate calls it before any thread starts), and never in
// an MPI process (memory registered for RDMA does not survive fork()).
#pragma once
#include <functional>
#include <string>

namespace prospect {

struct ChildOutcome {
  bool completed = false;  // work returned and the child exited 0
  int exit_code = -1;      // the child's exit status when it exited (1 when work threw)
  int signal = 0;          // the signal that ended it (SIGSEGV, SIGABRT, ...), 0 when none
  bool stalled = false;    // it wrote nothing for stall_timeout_s and was killed
  std::string output;      // everything it wrote to its fd
  std::string what() const;  // "exited with code 1", "was killed by signal 11 (Segmentation fault)", ...
};

// Runs work(fd) in a child; whatever work writes to fd comes back in output. Each write counts as
// progress: stall_timeout_s without one and the child is killed (SIGKILL).
ChildOutcome run_in_child(const std::function<void(int fd)>& work, double stall_timeout_s);

// Writes all of text to fd (retrying short writes); false when the reader is gone.
bool write_all(int fd, const std::string& text);

}  // namespace prospect
