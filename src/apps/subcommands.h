// Subcommands of the programs: each lives in src/apps/<prog>_<name>.cpp, takes the arguments after
// the subcommand's name (argv[0] = "<prog> <name>") and returns the exit code. No logic: parse, call
// the library, print.
#pragma once

namespace prospect::apps {

int data_synth(int argc, const char* const* argv);
int data_build(int argc, const char* const* argv);
int data_inspect(int argc, const char* const* argv);
int data_validate(int argc, const char* const* argv);

int lm_logits(int argc, const char* const* argv);
int lm_tokenize(int argc, const char* const* argv);
int lm_merge(int argc, const char* const* argv);

int eval_stream(int argc, const char* const* argv);
int eval_text_metrics(int argc, const char* const* argv);

// Runs the subcommand named by argv[1] from the table; prints the program's usage on --help or none.
struct Subcommand {
  const char* name;
  int (*run)(int, const char* const*);
  const char* help;
};
int dispatch(const char* prog, int argc, const char* const* argv, const Subcommand* table, int n,
             const Subcommand* fallback = nullptr);

}  // namespace prospect::apps

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "prospect/core/error.h"

namespace prospect::apps {

inline int dispatch(const char* prog, int argc, const char* const* argv, const Subcommand* table, int n,
                    const Subcommand* fallback) {
  auto print_usage = [&](FILE* to) {
    std::fprintf(to, "usage: %s <command> [options]   (%s <command> --help for its options)\n\ncommands:\n", prog, prog);
    for (int i = 0; i < n; ++i) std::fprintf(to, "  %-14s %s\n", table[i].name, table[i].help);
    if (fallback) std::fprintf(to, "  (no command)   %s\n", fallback->help);
  };
  if (argc >= 2 && argv[1][0] != '-') {
    for (int i = 0; i < n; ++i) {
      if (std::strcmp(argv[1], table[i].name) == 0) {
        std::string name = std::string(prog) + " " + table[i].name;
        std::vector<const char*> args{name.c_str()};
        for (int a = 2; a < argc; ++a) args.push_back(argv[a]);
        return table[i].run(static_cast<int>(args.size()), args.data());
      }
    }
    std::fprintf(stderr, "usage error: %s: unknown command '%s'\n", prog, argv[1]);
    print_usage(stderr);
    return kExitUsage;
  }
  if (fallback) {
    if (argc < 2) {
      return fallback->run(argc, argv);
    }
    bool wants_help = std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0;
    if (wants_help) print_usage(stdout);
    return fallback->run(argc, argv);
  }
  if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    print_usage(stdout);
    return kExitOk;
  }
  std::fprintf(stderr, "usage error: %s: %s\n", prog, argc < 2 ? "a command is required" : "unknown option");
  print_usage(stderr);
  return kExitUsage;
}

}  // namespace prospect::apps
