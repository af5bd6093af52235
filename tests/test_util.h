// What every kind of test needs: the source and build folders, scratch folders, whole files, running a
// program as a user would, and the message of an expected error. No LibTorch, no HDF5 here (see
// tiny_store.h, tiny_model.h for those needs).
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace prospect::test {

inline std::string source_path(const std::string& rel) { return std::string(PROSPECT_SOURCE_DIR) + "/" + rel; }
inline std::string binary_path(const std::string& rel) { return std::string(PROSPECT_BINARY_DIR) + "/" + rel; }

// An empty folder build/test_tmp/<name> (removed first). CTest runs every case in its own process, in
// parallel: names must differ between cases.
inline std::string fresh_dir(const std::string& name) {
  std::string d = binary_path("test_tmp/" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// A folder of this process (build/<prefix>-<pid>), made on first use and removed when the process
// ends: for what every case of a binary shares but parallel processes must not.
inline const std::string& process_dir(const std::string& prefix) {
  struct Dir {
    std::string path;
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static Dir d{binary_path(prefix + "-" + std::to_string(::getpid()))};
  std::filesystem::create_directories(d.path);
  return d.path;
}

// The file's bytes ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct CommandResult {
  int code = -1;       // exit status; 128 + signal when killed; -1 when it could not start
  std::string output;  // what the command wrote to its stdout (run_program: stderr too)
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

// Runs cmd as a user would: its stdout and stderr together.
inline CommandResult run_program(const std::string& cmd) { return run_command(cmd + " 2>&1"); }

// What f throws as an E (its what()); "" when it throws nothing. Another exception escapes.
template <typename E, typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

}  // namespace prospect::test
