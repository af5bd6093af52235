// Regenerates the tokenizer goldens under tests/text/golden/ with Hugging Face's JavaScript port of
// `tokenizers` (the oracle). The goldens are checked in, so building and testing never need npm.
//   mkdir -p /tmp/npmtok && (cd /tmp/npmtok && npm init -y && npm install @huggingface/tokenizers)
//   TOKENIZERS_JS=/tmp/npmtok node tools/tokenizer_goldens.mjs
// Writes, for each tokenizer below, one JSON array of ids per corpus line (add_special_tokens false).
// Known differences from HF's Rust tokenizers (which Oniguruma-based C++ follows) are listed in
// tests/text/golden/README.md; the hand-checked goldens there cover them.
import fs from "fs";
import path from "path";
import { createRequire } from "module";

const require = createRequire(path.join(process.env.TOKENIZERS_JS || process.cwd(), "noop.js"));
const { Tokenizer } = require("@huggingface/tokenizers");

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const golden = path.join(root, "tests/text/golden");
const corpus = fs.readFileSync(path.join(golden, "corpus.jsonl"), "utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));

export function load(dir) {
  const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  const cfgPath = path.join(dir, "tokenizer_config.json");
  const tc = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {};
  return new Tokenizer(tj, tc);
}

const targets = [
  ["tests/text/data/llama3", "llama3_ids.jsonl"],
  ["tests/text/data/tiny", "tiny_ids.jsonl"],
];
for (const [dir, out] of targets) {
  const tok = load(path.join(root, dir));
  const lines = corpus.map((t) => JSON.stringify(tok.encode(t, { add_special_tokens: false }).ids));
  fs.writeFileSync(path.join(golden, out), lines.join("\n") + "\n");
  console.log(`${out}: ${lines.length} lines`);
}

// Hand-checked cases where JavaScript's \s differs from Oniguruma's (U+0085 is whitespace for
// Oniguruma, U+FEFF is not): the pre-token split is written by hand in oniguruma_cases.jsonl, and
// the ids are the oracle's ids of each piece on its own, concatenated (or written by hand).
const cases = fs.readFileSync(path.join(golden, "oniguruma_cases.jsonl"), "utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
const toks = { llama3: load(path.join(root, "tests/text/data/llama3")), tiny: load(path.join(root, "tests/text/data/tiny")) };
const rows = cases.map((c) => {
  // ids_by_hand: where even a piece on its own would go through JavaScript's whitespace (lstrip/rstrip)
  const ids = c.ids_by_hand || c.pieces.flatMap((p) => toks[c.tokenizer].encode(p, { add_special_tokens: false }).ids);
  const whole = toks[c.tokenizer].encode(c.text, { add_special_tokens: false }).ids;
  const agrees = JSON.stringify(whole) === JSON.stringify(ids);
  return JSON.stringify({ tokenizer: c.tokenizer, text: c.text, ids, js_whole_text_agrees: agrees });
});
fs.writeFileSync(path.join(golden, "oniguruma_ids.jsonl"), rows.join("\n") + "\n");
console.log(`oniguruma_ids.jsonl: ${rows.length} lines`);

// The chat templates (include/prospect/text/chat_template.h) on a small conversation: header, content
// and the end-of-turn token of every turn, each segment tokenized on its own.
const conv = JSON.parse(fs.readFileSync(path.join(golden, "chat_conversation.json"), "utf8"));
const templates = {
  llama3: { tok: toks.llama3, header: (r) => `<|start_header_id|>${r}<|end_header_id|>\n\n`, eot: "<|eot_id|>" },
  plain: { tok: toks.tiny, header: (r) => r[0].toUpperCase() + r.slice(1) + ": ", eot: "<|eot|>" },
};
const chat = {};
for (const [name, t] of Object.entries(templates)) {
  const eot = t.tok.encode(t.eot, { add_special_tokens: false }).ids;
  if (eot.length !== 1) throw new Error(`${name}: ${t.eot} is not one token`);
  chat[name] = conv.turns.flatMap((turn) => [
    ...t.tok.encode(t.header(turn.role), { add_special_tokens: false }).ids,
    ...t.tok.encode(turn.content, { add_special_tokens: false }).ids,
    eot[0],
  ]);
}
fs.writeFileSync(path.join(golden, "chat_ids.json"), JSON.stringify(chat) + "\n");
console.log(`chat_ids.json: llama3 ${chat.llama3.length} ids, plain ${chat.plain.length} ids`);
