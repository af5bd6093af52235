// Order-free hashing for decisions that must not depend on data order, rank count or resume
// (negative-frame sampling, SPEC §3), and a small deterministic generator for shuffles.
#pragma once
#include <cstdint>
#include <string_view>

namespace prospect {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// splitmix64 stream: state advances by the golden gamma, output mixed. Same sequence everywhere.
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() { return splitmix64(state++ * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull); }
  // uniform in [0, n) without modulo bias worth caring about for n << 2^64
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
};

}  // namespace prospect
