// libprospect_spm: the only code that touches libsentencepiece. It is a separate module that
// src/text/sentencepiece.cpp opens with dlopen(RTLD_DEEPBIND), because libsentencepiece carries its
// own protobuf-lite 3.14 and, in a process that has loaded the full libprotobuf 3.21 (LibTorch does),
// its protobuf calls would otherwise bind to libprotobuf and abort ("compiled against version 3.14.0").
// DEEPBIND makes libsentencepiece (and sentencepiece_train) resolve to their own copies.
// The interface is a few extern "C" functions (same libstdc++ on both sides, so std types pass).
//
// One DEEPBIND pitfall, handled by prospect_spm_init: a program that uses std::cout/cerr/clog holds
// copy-relocated copies of them, which libstdc++ constructs; under DEEPBIND this module (and
// libsentencepiece's logging) sees libstdc++'s own, never-constructed storage instead and would crash.
// We construct that storage as ostreams writing to the program's stream buffers.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdint>
#include <iostream>
#include <new>
#include <string>
#include <utility>
#include <vector>

using Proc = sentencepiece::SentencePieceProcessor;

extern "C" {

void prospect_spm_init(std::ostream* main_cout, std::ostream* main_cerr, std::ostream* main_clog) {
  if (&std::cout != main_cout) new (&std::cout) std::ostream(main_cout->rdbuf());
  if (&std::cerr != main_cerr) new (&std::cerr) std::ostream(main_cerr->rdbuf());
  if (&std::clog != main_clog) new (&std::clog) std::ostream(main_clog->rdbuf());
}

// The bytes of a .model, read and checked by the caller.
void* prospect_spm_load(const char* data, size_t n, std::string* err) {
  auto* sp = new Proc();
  auto st = sp->LoadFromSerializedProto(absl::string_view(data, n));
  if (!st.ok()) {
    *err = st.ToString();
    delete sp;
    return nullptr;
  }
  return sp;
}

void prospect_spm_free(void* h) { delete static_cast<Proc*>(h); }

void prospect_spm_encode(void* h, const char* data, size_t n, std::vector<int32_t>* ids,
                         std::vector<std::pair<size_t, size_t>>* offsets) {
  auto spt = static_cast<Proc*>(h)->EncodeAsImmutableProto(std::string(data, n));
  size_t k = spt.pieces_size();
  ids->reserve(k);
  offsets->reserve(k);
  for (size_t i = 0; i < k; ++i) {
    auto p = spt.pieces(static_cast<int>(i));
    ids->push_back(static_cast<int32_t>(p.id()));
    offsets->push_back({p.begin(), p.end()});
  }
}

bool prospect_spm_decode(void* h, const int32_t* ids, size_t n, std::string* out, std::string* err) {
  std::vector<int> v(ids, ids + n);
  auto st = static_cast<Proc*>(h)->Decode(v, out);
  if (!st.ok()) *err = st.ToString();
  return st.ok();
}

// what: 0 piece count, 1 bos, 2 eos, 3 unk, 4 pad
int prospect_spm_info(void* h, int what) {
  auto* sp = static_cast<Proc*>(h);
  switch (what) {
    case 0: return sp->GetPieceSize();
    case 1: return sp->bos_id();
    case 2: return sp->eos_id();
    case 3: return sp->unk_id();
    case 4: return sp->pad_id();
  }
  return -1;
}

// bit 0 control, bit 1 unknown, bit 2 byte, bit 3 unused
int prospect_spm_flags(void* h, int id) {
  auto* sp = static_cast<Proc*>(h);
  return (sp->IsControl(id) ? 1 : 0) | (sp->IsUnknown(id) ? 2 : 0) | (sp->IsByte(id) ? 4 : 0) |
         (sp->IsUnused(id) ? 8 : 0);
}

void prospect_spm_id_to_piece(void* h, int id, std::string* out) { *out = static_cast<Proc*>(h)->IdToPiece(id); }

int prospect_spm_piece_to_id(void* h, const char* data, size_t n) {
  return static_cast<Proc*>(h)->PieceToId(std::string(data, n));
}

bool prospect_spm_train(const char* args, std::string* err) {
  auto st = sentencepiece::SentencePieceTrainer::Train(args);
  if (!st.ok()) *err = st.ToString();
  return st.ok();
}

}  // extern "C"
