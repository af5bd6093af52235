// Errors that carry the exit code of SPEC §1 and enough context (file, clip, field, expected vs found)
// for a user to act. Library code throws; the apps map the exception to the exit code in run_app().
#pragma once
#include <fmt/format.h>
#include <functional>
#include <stdexcept>
#include <string>

namespace prospect {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,       // bad data, corrupt file, non-finite training
  kExitUsage = 2,       // unknown option, bad value
  kExitStopped = 3,     // stopped by a signal after a checkpoint (the job script requeues)
  kExitPeerFailed = 4,  // a peer rank failed or a collective timed out
};

struct Error : std::runtime_error {
  int code;
  explicit Error(const std::string& msg, int code = kExitError) : std::runtime_error(msg), code(code) {}
};
struct UsageError : Error {
  explicit UsageError(const std::string& msg) : Error(msg, kExitUsage) {}
};
struct PeerError : Error {
  explicit PeerError(const std::string& msg) : Error(msg, kExitPeerFailed) {}
};
struct StopRequested : Error {
  explicit StopRequested(const std::string& msg) : Error(msg, kExitStopped) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void usage_fail(fmt::format_string<Args...> f, Args&&... args) {
  throw UsageError(fmt::format(f, std::forward<Args>(args)...));
}
#define PROSPECT_CHECK(cond, ...) \
  do {                            \
    if (!(cond)) ::prospect::fail(__VA_ARGS__); \
  } while (0)

// Runs an app's body: logs the error of any exception in one line and returns its exit code.
int run_app(const std::function<int()>& body);

}  // namespace prospect
