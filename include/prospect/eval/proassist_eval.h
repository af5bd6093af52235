// ProAssist's numbers for our records (eval.match = proassist): one clip's slots, cosines from the
// sentence encoder (one batch per clip), the matching (proassist_match.h); and the text scores of the
// matched pairs as ProAssist's NLGEval computes them: coco-caption's PTB tokens (ptb_tokenizer.h) of
// the references and of the hypotheses, pairs whose tokenised reference is empty left out, then
// BLEU-1..4, CIDEr (coco-caption's, = our CIDEr-D) and METEOR (the jar, when given).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "prospect/eval/metrics.h"
#include "prospect/eval/proassist_match.h"

namespace prospect::eval {

class SentenceEmbedder;
class MeteorScorer;

// One clip: assistant turns of the record become slots (talking_slots), the window comes from the
// dataset name (match_window_for) at the record's fps.
ProAssistClip proassist_evaluate_clip(const ClipRecord& rec, const std::string& dataset, const SentenceEmbedder& embedder,
                                      const std::vector<std::pair<std::string, WindowSeconds>>& window_overrides);

// Text scores of (reference, hypothesis) pairs; meteor may be null (METEOR then null). All null
// when no pair is left.
ProAssistText proassist_text_scores(const std::vector<TextPair>& pairs, MeteorScorer* meteor);

}  // namespace prospect::eval
