// What many tests need: run a program as a user would and get its exit code and output back.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace prospect::test {

struct CommandResult {
  int code = -1;       // exit status; 128 + signal when killed; -1 when it could not start
  std::string output;  // what the command wrote to its stdout (add " 2>&1" to include stderr)
};

// Runs cmd through the shell and reads its stdout to the end.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
  return r;
}

}  // namespace prospect::test
