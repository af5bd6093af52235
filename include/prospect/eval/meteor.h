// METEOR 1.5 as coco-caption computes it (pycocoevalcap/meteor/meteor.py): the jar runs under Java as
//   java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm      (working directory: the jar's folder)
// and is spoken to line by line: for every pair "SCORE ||| <reference> ||| <hypothesis>" (the
// hypothesis with "|||" removed and double spaces made single, the reference as it is) answers one
// line of statistics; then "EVAL ||| <stats 1> ||| ... ||| <stats n>" answers one score per pair and
// a last line, the corpus METEOR (what coco-caption reports). Texts are PTB tokens joined by spaces,
// as coco-caption gives them. Never run-time critical: the jar is optional (eval.meteor_jar).
#pragma once
#include <string>
#include <sys/types.h>
#include <vector>

namespace prospect::eval {

class MeteorScorer {
 public:
  // Starts the jar and checks it answers one pair. UsageError (naming the jar) when the jar is not a
  // readable file, java cannot be started, or the process does not answer as METEOR 1.5 does; its
  // standard error is quoted. `timeout_s` bounds every wait for an answer line (loading the
  // paraphrase table takes about 10 s).
  explicit MeteorScorer(const std::string& jar, const std::string& java = "java", double timeout_s = 600);
  ~MeteorScorer();
  MeteorScorer(const MeteorScorer&) = delete;
  MeteorScorer& operator=(const MeteorScorer&) = delete;

  // Corpus METEOR of (references[i], hypotheses[i]); one reference each. Error when the sizes differ,
  // the list is empty, or the process stops answering (then it is killed).
  double score(const std::vector<std::string>& references, const std::vector<std::string>& hypotheses);

 private:
  std::string ask(const std::string& line);  // writes one line, reads one line
  std::string read_line();
  void write_all(const std::string& bytes);
  [[noreturn]] void die(const std::string& what);
  std::string stderr_tail() const;
  void close_all();  // ends the process (EOF, then SIGKILL after 1 s), closes, removes the stderr file

  std::string jar_;
  double timeout_s_;
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;  // our ends: its stdin, its stdout
  std::string err_path_;    // its stderr, quoted in errors
  std::string buffer_;      // read but not yet returned
};

}  // namespace prospect::eval
