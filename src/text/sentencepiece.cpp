// SentencePiece .model. Ids and byte spans come from SentencePiece's own encoder
// (EncodeAsImmutableProto), so user-defined symbols such as <|eot|> are matched exactly as
// SentencePiece matches them. libsentencepiece is reached only through the module libprospect_spm
// (src/text/spm/spm_module.cpp), opened here with RTLD_DEEPBIND: see that file for why. The module
// parses the bytes we read and checked (sentencepiece_check.h): libsentencepiece trusts a charsmap.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <mutex>

#include "prospect/core/error.h"
#include "prospect/core/file.h"
#include "prospect/text/sentencepiece_check.h"
#include "prospect/text/tokenizer.h"

namespace prospect {
namespace {

struct SpmModule {
  void* (*load)(const char*, size_t, std::string*);
  void (*free)(void*);
  void (*encode)(void*, const char*, size_t, std::vector<int32_t>*, std::vector<std::pair<size_t, size_t>>*);
  bool (*decode)(void*, const int32_t*, size_t, std::string*, std::string*);
  int (*info)(void*, int);
  int (*flags)(void*, int);
  void (*id_to_piece)(void*, int, std::string*);
  int (*piece_to_id)(void*, const char*, size_t);
  bool (*train)(const char*, std::string*);
};

std::string exe_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.find_last_of('/'));
}

// Looks in $PROSPECT_SPM_MODULE, next to the program, ../lib of it, then the build tree.
const SpmModule& spm() {
  static SpmModule m;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("PROSPECT_SPM_MODULE")) candidates.push_back(env);
    std::string dir = exe_dir();
    if (!dir.empty()) {
      candidates.push_back(dir + "/libprospect_spm.so");
      candidates.push_back(dir + "/../lib/libprospect_spm.so");
    }
#ifdef PROSPECT_SPM_MODULE_PATH
    candidates.push_back(PROSPECT_SPM_MODULE_PATH);
#endif
    void* h = nullptr;
    std::string errors;
    for (const auto& c : candidates) {
      if (access(c.c_str(), R_OK) != 0) continue;
      h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (h) break;
      errors += std::string("; ") + dlerror();
    }
    if (!h)
      fail("SentencePiece support module libprospect_spm.so not found (looked in $PROSPECT_SPM_MODULE, next to "
           "the program, and the build tree){}",
           errors);
    auto sym = [&](const char* name) {
      void* s = dlsym(h, name);
      if (!s) fail("libprospect_spm.so lacks {}", name);
      return s;
    };
    auto init = reinterpret_cast<void (*)(std::ostream*, std::ostream*, std::ostream*)>(sym("prospect_spm_init"));
    init(&std::cout, &std::cerr, &std::clog);  // see spm_module.cpp
    m.load = reinterpret_cast<decltype(m.load)>(sym("prospect_spm_load"));
    m.free = reinterpret_cast<decltype(m.free)>(sym("prospect_spm_free"));
    m.encode = reinterpret_cast<decltype(m.encode)>(sym("prospect_spm_encode"));
    m.decode = reinterpret_cast<decltype(m.decode)>(sym("prospect_spm_decode"));
    m.info = reinterpret_cast<decltype(m.info)>(sym("prospect_spm_info"));
    m.flags = reinterpret_cast<decltype(m.flags)>(sym("prospect_spm_flags"));
    m.id_to_piece = reinterpret_cast<decltype(m.id_to_piece)>(sym("prospect_spm_id_to_piece"));
    m.piece_to_id = reinterpret_cast<decltype(m.piece_to_id)>(sym("prospect_spm_piece_to_id"));
    m.train = reinterpret_cast<decltype(m.train)>(sym("prospect_spm_train"));
  });
  return m;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : path_(path) {
    std::string bytes, err;
    if (!read_file(path, &bytes)) fail("cannot open SentencePiece model {}", path);
    check_sentencepiece_model(bytes, path);
    h_ = spm().load(bytes.data(), bytes.size(), &err);
    if (!h_) fail("cannot load SentencePiece model {}: {}", path, err);
    int n = spm().info(h_, 0);
    pieces_.resize(n);
    special_.assign(n, 0);
    for (int id = 0; id < n; ++id) spm().id_to_piece(h_, id, &pieces_[id]);
    // Special = control, unknown or user-defined. libsentencepiece 0.1.97 has no IsUserDefined, so the
    // piece types are read from the .model itself (a serialized ModelProto). As before, bytes whose
    // pieces do not parse give no types (libsentencepiece parsed them above, so only wire types it
    // tolerates and the reader does not, such as groups, get here).
    std::vector<int> types;
    try {
      types = sentencepiece_piece_types(bytes, path);
    } catch (const Error&) {
    }
    for (int id = 0; id < n; ++id) {
      int f = spm().flags(h_, id);
      bool user_defined = id < static_cast<int>(types.size()) && types[id] == 4;
      special_[id] = (f & 3) || user_defined;
    }
  }
  ~SentencePieceTokenizer() override { spm().free(h_); }

  Encoding encode(std::string_view text) const override {
    Encoding enc;
    spm().encode(h_, text.data(), text.size(), &enc.ids, &enc.offsets);
    return enc;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    for (int32_t id : ids)
      if (id < 0 || id >= static_cast<int32_t>(pieces_.size()))
        fail("{}: cannot decode id {} (vocabulary size {})", path_, id, pieces_.size());
    std::string out, err;
    if (!spm().decode(h_, ids.data(), ids.size(), &out, &err)) fail("{}: decode failed: {}", path_, err);
    return out;
  }
  int32_t token_to_id(std::string_view token) const override {
    int id = spm().piece_to_id(h_, token.data(), token.size());
    if (id < 0 || id >= static_cast<int>(pieces_.size()) || pieces_[id] != token) return -1;  // unk otherwise
    return id;
  }
  std::string id_to_token(int32_t id) const override {
    return id < 0 || id >= static_cast<int32_t>(pieces_.size()) ? "" : pieces_[id];
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  int32_t bos_id() const override { return spm().info(h_, 1); }
  int32_t eos_id() const override { return spm().info(h_, 2); }
  std::string kind() const override { return "sentencepiece"; }
  bool is_special(int32_t id) const override {
    return id >= 0 && id < static_cast<int32_t>(special_.size()) && special_[id];
  }

 private:
  std::string path_;
  void* h_ = nullptr;
  std::vector<std::string> pieces_;
  std::vector<char> special_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& path) {
  return std::make_unique<SentencePieceTokenizer>(path);
}

void sentencepiece_train(const std::string& args) {
  std::string err;
  if (!spm().train(args.c_str(), &err)) fail("SentencePiece training failed ({}): {}", args, err);
}

}  // namespace prospect
