// ProAssist's evaluation of our records: slots, cosines, matching; NLGEval's text scores.
#include "prospect/eval/proassist_eval.h"

#include "prospect/eval/meteor.h"
#include "prospect/eval/ptb_tokenizer.h"
#include "prospect/eval/sentence_embedder.h"
#include "prospect/eval/text_metrics.h"

namespace prospect::eval {

ProAssistClip proassist_evaluate_clip(const ClipRecord& rec, const std::string& dataset, const SentenceEmbedder& embedder,
                                      const std::vector<std::pair<std::string, WindowSeconds>>& window_overrides) {
  std::vector<FrameText> gen = talking_slots(rec.predicted), ref = talking_slots(rec.reference);
  std::vector<std::string> gen_text, ref_text;
  for (const auto& s : gen) gen_text.push_back(s.text);
  for (const auto& s : ref) ref_text.push_back(s.text);
  ProAssistParams p;
  p.window = offset_window(match_window_for(dataset, window_overrides), rec.fps);
  ProAssistMatch m = match_proassist(rec.first_frame, rec.last_frame, gen, ref, embedder.clip_cosines(gen_text, ref_text), p);
  return proassist_clip(m, gen, ref, rec.fps, p.threshold);
}

ProAssistText proassist_text_scores(const std::vector<TextPair>& pairs, MeteorScorer* meteor) {
  std::vector<std::string> refs, hyps;
  for (const auto& p : pairs) refs.push_back(p.reference), hyps.push_back(p.hypothesis);
  // coco-caption tokenises the references and the hypotheses as two corpora (each caption may look
  // at the next one of its own corpus)
  std::vector<std::string> ref_tok = ptb_tokenize_captions(refs), hyp_tok = ptb_tokenize_captions(hyps);
  std::vector<std::string> kept_ref, kept_hyp;
  std::vector<Tokens> ref_words, hyp_words;
  for (size_t k = 0; k < pairs.size(); ++k) {
    if (ref_tok[k].empty()) continue;  // NLGEval's filter: an empty tokenised reference
    kept_ref.push_back(ref_tok[k]);
    kept_hyp.push_back(hyp_tok[k]);
    ref_words.push_back(split_whitespace(ref_tok[k]));
    hyp_words.push_back(split_whitespace(hyp_tok[k]));
  }
  ProAssistText t;
  if (kept_ref.empty()) return t;
  auto bleu = corpus_bleu(ref_words, hyp_words);
  for (int n = 0; n < 4; ++n) t.bleu[n] = bleu[n];
  t.cider = corpus_cider_d(ref_words, hyp_words);
  if (meteor) t.meteor = meteor->score(kept_ref, kept_hyp);
  return t;
}

}  // namespace prospect::eval
