// The evaluation set-up of tiny_eval.h.
#include "tiny_eval.h"

#include <fstream>

#include "prospect/model/dst_model.h"
#include "prospect/text/tokenizer.h"
#include "tiny_model.h"
#include "tiny_store.h"

namespace prospect::test {

const TinyEval& tiny_eval(const std::string& name) {
  static TinyEval s;
  if (!s.dir.empty()) return s;
  s.dir = process_dir(name);
  const std::string data = synth_data("test_eval_data", 16, 64, 3);
  s.data32 = synth_data("test_eval_data32", 16, 32, 3, /*tokenizer=*/false);
  Config& c = s.cfg;
  c.data.train = data + "/train.h5";
  c.data.val = data + "/val.h5";
  c.data.test = data + "/test.h5";
  c.data.tokenizer = data + "/tokenizer.model";
  c.data.template_name = "plain";
  c.data.max_seq_len = 192;
  c.model = tiny_model_config();
  c.eval.max_new_tokens = 6;
  c.train.threads = 1;
  auto tok = load_tokenizer(c.data.tokenizer);
  DSTProActLlama m = make_dst_model_scratch(c.model, tok->vocab_size(), 64, 5);
  s.model = s.dir + "/model";
  save_dst_model(m, s.model);
  s.ini = s.dir + "/eval.ini";
  std::ofstream(s.ini) << to_ini(c);
  return s;
}

}  // namespace prospect::test
