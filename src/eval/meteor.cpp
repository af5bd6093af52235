// METEOR through its jar (protocol in meteor.h). The process is started with posix_spawn (no fork of
// an MPI rank's address space); its stdin and stdout are socket pairs so that a write to a process
// that died is an error (send with MSG_NOSIGNAL), never a SIGPIPE; every read waits at most timeout_s.
#include "prospect/eval/meteor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "prospect/core/error.h"

extern char** environ;

namespace prospect::eval {

namespace {

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

// coco-caption's _stat: the hypothesis loses "|||" and double spaces become single (once, as
// Python's str.replace does it: left to right, not repeated).
std::string clean_hypothesis(const std::string& h) {
  std::string s;
  for (size_t i = 0; i < h.size();) {
    if (h.compare(i, 3, "|||") == 0) {
      i += 3;
    } else {
      s += h[i++];
    }
  }
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 2, "  ") == 0) {
      out += ' ';
      i += 2;
    } else {
      out += s[i++];
    }
  }
  return one_line(out);
}

}  // namespace

MeteorScorer::MeteorScorer(const std::string& jar, const std::string& java, double timeout_s)
    : jar_(jar), timeout_s_(timeout_s) {
  struct stat st {};
  if (::stat(jar.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(jar.c_str(), R_OK) != 0)
    usage_fail("eval.meteor_jar={}: not a readable file (the METEOR 1.5 jar, e.g. pycocoevalcap's meteor-1.5.jar)", jar);
  const std::string abs_jar = std::filesystem::absolute(jar).string();
  const std::string dir = std::filesystem::path(abs_jar).parent_path().string();

  int sin[2], sout[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sin) != 0 ||
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sout) != 0)
    fail("METEOR: socketpair: {}", std::strerror(errno));
  std::string tmpl = (std::filesystem::temp_directory_path() / "prospect_meteor_err_XXXXXX").string();
  int err_fd = ::mkstemp(tmpl.data());
  if (err_fd < 0) fail("METEOR: cannot create a file for its standard error ({}): {}", tmpl, std::strerror(errno));
  err_path_ = tmpl;

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sin[1], 0);
  posix_spawn_file_actions_adddup2(&fa, sout[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  std::vector<std::string> args = {java, "-jar", "-Xmx2G", abs_jar, "-", "-", "-stdio", "-l", "en", "-norm"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = ::posix_spawnp(&pid_, java.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(sin[1]);
  ::close(sout[1]);
  ::close(err_fd);
  in_ = sin[0];
  out_ = sout[0];
  if (rc != 0) {
    pid_ = -1;
    ::close(in_), ::close(out_);
    in_ = out_ = -1;
    ::unlink(err_path_.c_str());
    usage_fail("eval.meteor_jar={}: cannot start '{}': {} (METEOR needs Java: apt-get install default-jre-headless)",
               jar, java, std::strerror(rc));
  }
  try {
    double s = score({"open the lid"}, {"open the lid"});
    if (!(s > 0.9)) die("answers a METEOR of " + std::to_string(s) + " for two equal sentences");
  } catch (const Error& e) {
    close_all();  // no destructor runs for an object whose constructor throws
    throw UsageError(fmt::format("eval.meteor_jar={}: not a working METEOR 1.5: {}", jar, e.what()));
  }
}

MeteorScorer::~MeteorScorer() { close_all(); }

void MeteorScorer::close_all() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
  if (pid_ > 0) {
    // EOF on its stdin ends it; give it a moment, then make sure.
    int status = 0;
    for (int k = 0; k < 50 && ::waitpid(pid_, &status, WNOHANG) == 0; ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  if (out_ >= 0) ::close(out_);
  if (!err_path_.empty()) ::unlink(err_path_.c_str());
  in_ = out_ = -1;
  pid_ = -1;
  err_path_.clear();
}

std::string MeteorScorer::stderr_tail() const {
  std::ifstream in(err_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > 1500) s = "..." + s.substr(s.size() - 1500);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "(nothing on its standard error)" : s;
}

void MeteorScorer::die(const std::string& what) {
  std::string err = stderr_tail();
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  fail("METEOR ({}): {}; its standard error: {}", jar_, what, err);
}

void MeteorScorer::write_all(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(in_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die(std::string("the process stopped reading (") + std::strerror(errno) + ")");
    done += static_cast<size_t>(n);
  }
}

std::string MeteorScorer::read_line() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
  for (;;) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) die("no answer within " + std::to_string(timeout_s_) + " s");
    pollfd p{out_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) die(std::string("poll: ") + std::strerror(errno));
    if (r <= 0) continue;
    char buf[65536];
    ssize_t n = ::recv(out_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("the process ended");
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

std::string MeteorScorer::ask(const std::string& line) {
  write_all(line + "\n");
  return read_line();
}

double MeteorScorer::score(const std::vector<std::string>& references, const std::vector<std::string>& hypotheses) {
  if (references.size() != hypotheses.size())
    fail("METEOR: {} references but {} hypotheses (one reference per hypothesis)", references.size(), hypotheses.size());
  if (references.empty()) fail("METEOR: no pairs to score");
  if (pid_ <= 0) fail("METEOR ({}): the process is gone", jar_);
  std::string eval = "EVAL";
  for (size_t i = 0; i < references.size(); ++i) {
    std::string stats = ask("SCORE ||| " + one_line(references[i]) + " ||| " + clean_hypothesis(hypotheses[i]));
    size_t a = stats.find_first_not_of(" \t"), b = stats.find_last_not_of(" \t");  // Python's strip()
    stats = a == std::string::npos ? std::string() : stats.substr(a, b - a + 1);
    eval += " ||| " + stats;
  }
  write_all(eval + "\n");
  for (size_t i = 0; i < references.size(); ++i) read_line();  // one score per pair
  std::string total = read_line();
  char* end = nullptr;
  double v = std::strtod(total.c_str(), &end);
  if (end == total.c_str()) die("answered '" + total + "' where a score was expected");
  return v;
}

}  // namespace prospect::eval
