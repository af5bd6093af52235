// The JavaScript side of bench/tokenizer.cpp: encodes the same chunks with Hugging Face's JavaScript
// `tokenizers` and prints {"seconds", "tokens", "ids_fnv1a"} as JSON on stdout.
//   TOKENIZERS_JS=/tmp/npmtok node tools/bench_tokenizer_oracle.mjs CHUNKS.jsonl TOKENIZER_DIR
import fs from "fs";
import path from "path";
import { createRequire } from "module";

const require = createRequire(path.join(process.env.TOKENIZERS_JS || process.cwd(), "noop.js"));
const { Tokenizer } = require("@huggingface/tokenizers");
const [chunksPath, dir] = process.argv.slice(2);
const chunks = fs.readFileSync(chunksPath, "utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l));
const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
const cfgPath = path.join(dir, "tokenizer_config.json");
const tok = new Tokenizer(tj, fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {});
// FNV-1a 64 over the ids (as little-endian int32 bytes), the same digest as the C++ side.
let h = 0xcbf29ce484222325n;
const P = 0x100000001b3n, M = (1n << 64n) - 1n;
let tokens = 0;
const t0 = process.hrtime.bigint();
const all = [];
for (const c of chunks) all.push(tok.encode(c, { add_special_tokens: false }).ids);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
for (const ids of all) {
  tokens += ids.length;
  for (const id of ids) for (let k = 0; k < 4; k++) { h ^= BigInt((id >>> (8 * k)) & 255); h = (h * P) & M; }
}
console.log(JSON.stringify({ seconds, tokens, ids_fnv1a: h.toString(16) }));
