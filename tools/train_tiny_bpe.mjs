// Trains the small byte-level BPE test fixture tests/text/data/tiny/tokenizer.json (SmolLM2 layout:
// Sequence[Digits(individual_digits), ByteLevel(use_regex)], ignore_merges false, special tokens at
// ids 0..2, extra added tokens <mask> (lstrip), <sep> (rstrip), <|eot|>). Deterministic; no dependencies.
//   node tools/train_tiny_bpe.mjs [out.json]      (default tests/text/data/tiny/tokenizer.json)
import fs from "fs";

const NUM_MERGES = 400;
const TEXT = [
  "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away again and again.",
  "I'm sure you're right: we've seen they'll say he'd done it, but it's not what she'd wanted.",
  "Cut the onion, heat the pan, then stir the sauce for two minutes until it thickens.",
  "The assistant watches the video stream and decides whether to speak at every frame.",
  "def train(model, data):\n    for step in range(100):\n        loss = model(data)\n        loss.backward()\n",
  "int main(int argc, char** argv) {\n  return 0;\n}\n",
  "Привет, мир! Как дела? Хорошо, спасибо.  你好，世界。我们去公园吧。  مرحبا بالعالم",
  "Γειά σου Κόσμε. नमस्ते दुनिया. สวัสดีชาวโลก. こんにちは世界。",
  "Step S1 complete, step S2 start, step S3 in progress; current step states: S1 completed.",
].join("\n\n").repeat(3);

// byte -> printable char (GPT-2)
const byteToChar = [];
{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    byteToChar[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
}
const enc = new TextEncoder();
const toByteLevel = (s) => Array.from(enc.encode(s), (b) => byteToChar[b]);

// pre-tokenize: digits one by one, then GPT-2's regex (JavaScript's \s is close enough for training)
const gpt2 = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const counts = new Map();
for (const part of TEXT.split(/(\p{N})/u)) {
  for (const m of part.match(gpt2) || []) {
    const key = toByteLevel(m).join("\u0000");
    counts.set(key, (counts.get(key) || 0) + 1);
  }
}
let words = [...counts.entries()].map(([k, c]) => ({ syms: k.split("\u0000"), c }));

const special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const vocab = {};
let next = 0;
for (const s of special) vocab[s] = next++;
for (let b = 0; b < 256; b++) vocab[byteToChar[b]] = next++;
const merges = [];
for (let it = 0; it < NUM_MERGES; it++) {
  const pairs = new Map();
  for (const w of words)
    for (let i = 0; i + 1 < w.syms.length; i++) {
      const k = w.syms[i] + " " + w.syms[i + 1];
      pairs.set(k, (pairs.get(k) || 0) + w.c);
    }
  let best = null, bestC = 0;
  for (const [k, c] of pairs) if (c > bestC || (c === bestC && k < best)) { best = k; bestC = c; }
  if (!best || bestC < 2) break;
  const [a, b] = best.split(" ");
  merges.push([a, b]);
  if (!(a + b in vocab)) vocab[a + b] = next++;
  for (const w of words) {
    const out = [];
    for (let i = 0; i < w.syms.length; i++) {
      if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) { out.push(a + b); i++; }
      else out.push(w.syms[i]);
    }
    w.syms = out;
  }
}
const extra = [
  { content: "<mask>", lstrip: true, rstrip: false },
  { content: "<sep>", lstrip: false, rstrip: true },
  { content: "<|eot|>", lstrip: false, rstrip: false },  // the plain template's end of turn
];
const added = special.map((s, i) => ({ id: i, content: s, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
for (const e of extra) added.push({ id: next++, content: e.content, single_word: false, lstrip: e.lstrip, rstrip: e.rstrip, normalized: false, special: true });

const tok = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: added,
  normalizer: null,
  pre_tokenizer: { type: "Sequence", pretokenizers: [
    { type: "Digits", individual_digits: true },
    { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true }] },
  post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
           fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
};
const out = process.argv[2] || "tests/text/data/tiny/tokenizer.json";
fs.writeFileSync(out, JSON.stringify(tok, null, 1) + "\n");
console.log(`${out}: ${Object.keys(vocab).length} vocab entries, ${merges.length} merges, ${added.length} added tokens`);
