// fork(), a pipe and poll(): the child runs the work and writes; the parent reads until the pipe
// closes or stays silent for too long.
#include "prospect/core/child.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>

#include "prospect/core/error.h"

namespace prospect {

std::string ChildOutcome::what() const {
  if (stalled) return "wrote nothing for too long and was killed";
  if (signal) return fmt::format("was killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exited with code {}", exit_code);
}

bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

ChildOutcome run_in_child(const std::function<void(int fd)>& work, double stall_timeout_s) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail("cannot create a pipe for a child process: {}", std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    fail("cannot start a child process: {}", std::strerror(e));
  }
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    try {
      work(fds[1]);
    } catch (const std::exception& e) {
      write_all(fds[1], std::string("\nerror: ") + e.what() + "\n");
      code = 1;
    } catch (...) {
      code = 1;
    }
    ::_exit(code);  // no atexit handlers, no flush of the parent's stdio buffers
  }
  ::close(fds[1]);

  ChildOutcome out;
  const int timeout_ms = static_cast<int>(stall_timeout_s * 1000);
  char buf[1 << 16];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      out.stalled = true;
      ::kill(pid, SIGKILL);
      break;
    }
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the child closed its end: it exited
    out.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!out.stalled) {
    if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
    out.completed = WIFEXITED(status) && out.exit_code == 0;
  }
  return out;
}

}  // namespace prospect
