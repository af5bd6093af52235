import json, random
T = []
add = T.append
add("")
# English, contractions
for s in ["Hello world", "Hello World!", "hello, world.", "The quick brown fox jumps over the lazy dog.",
          "I'm here", "I'M HERE", "you're right", "YOU'RE RIGHT", "We've done it", "WE'VE", "they'll go", "THEY'LL",
          "he'd say", "HE'D", "it's", "IT'S", "don't", "DON'T", "Don'T", "isn't it", "'s", "'S", "'t", "'re", "'ve",
          "'m", "'ll", "'d", "''s", "' s", "it'ſ", "John's book's cover", "rock 'n' roll", "'tis the season",
          "o'clock", "I'd've", "y'all'd've", "“quoted” ‘single’", "it’s curly", "ma'am"]:
    add(s)
# scripts
for s in ["你好，世界！", "我们今天去公园散步吧。", "東京都は日本の首都です。", "ひらがなとカタカナ", "한국어 텍스트입니다",
          "مرحبا بالعالم", "السلام عليكم ورحمة الله", "שלום עולם", "नमस्ते दुनिया", "हिन्दी में लिखा गया वाक्य।",
          "Привет, мир!", "Съешь же ещё этих мягких французских булок", "Γειά σου Κόσμε", "Ελληνικά γράμματα αβγ",
          "สวัสดีชาวโลก", "ภาษาไทยไม่มีช่องว่าง", "தமிழ் மொழி", "ქართული ენა", "Հայերեն", "Tiếng Việt có dấu",
          "Ça va? Où est l'hôtel?", "Straße und Größe", "ﬁ ligature", "Ǆemal", "İstanbul ıi", "mixed 中文 and English",
          "العربية123", "русский123abc", "日本語。English。한국어", "e\u0301 combining", "a\u0308o\u0308u\u0308"]:
    add(s)
# emoji
for s in ["😀", "😀😃😄", "I love 🍕!", "👍🏽 ok", "👨‍👩‍👧‍👦 family", "🏳️‍🌈", "🇫🇷🇩🇪", "1️⃣2️⃣", "❤️", "👩🏾‍💻 codes",
          "emoji😀word", "🧑‍🤝‍🧑", "☃ ★ ♥", "text 🙂\n🙃"]:
    add(s)
# digits
for s in ["1", "12", "123", "1234", "12345", "123456", "1234567", "12345678901234567890", "3.14159", "1,000,000",
          "2024-05-01", "v1.2.3", "a1b2c3", "٣٤٥٦", "①②③", "Ⅻ", "１２３", "0x1F", "1e-10", "99 bottles", "-42",
          "+1 (555) 123-4567", "10%", "$100.00", "७८९", "๑๒๓", "000000000000"]:
    add(s)
# whitespace
for s in [" ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", "a  b", "a   b", "a\tb", "a\t\tb", "a \tb",
          "line1\nline2", "line1\r\nline2\r\n", "line1\n\n\nline3", "   leading", "trailing   ", " \n ", "\n  x",
          "x  \n", "a\u00a0b", "a\u3000b", "a\u2003b", "tab\tseparated\tvalues", "\t\tindented", "  \n\n  \n",
          "end with newline\n", "a\u000bb", "a\u000cb", "x \r\n y", "  two  spaces  ", "\n\n\n\n"]:
    add(s)
# controls
for s in ["a\u0000b", "\u0001\u001f", "bell\u0007", "del\u007f"]:
    add(s)
# code
for s in ["def f(x):\n    return x * 2\n", "int main() { return 0; }", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
          "{\"key\": [1, 2, 3], \"b\": null}", "<div class=\"x\">Hi</div>", "ls -la | grep foo > out.txt",
          "x = y ** 2 // 3 % 4", "#include <vector>\nstd::vector<int> v;", "SELECT * FROM t WHERE id = 42;",
          "if (a && b || !c) { x += 1; }", "console.log(`template ${x}`);", "    indented code\n        more",
          "a->b; c::d; e=>f", "/* comment */ // line", "@decorator\nclass A: pass", "http://example.com/path?q=1&r=2",
          "user@example.com", "C:\\Windows\\System32", "~/.bashrc && echo $HOME", "«guillemets» — dash – en",
          "!!!???...", "...", "---", "___init___", "snake_case_name", "camelCaseName", "SCREAMING_CASE"]:
    add(s)
# special tokens (both tokenizers' names)
for s in ["<|begin_of_text|>Hello", "Hi <|eot_id|> there", "Hi<|eot_id|>there", "<|eot_id|>", "<|eot_id|><|eot_id|>",
          "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>",
          "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>", "<|eot_id", "<|EOT_ID|>", "< |eot_id|>",
          "<|reserved_special_token_10|>", "<|reserved_special_token_1|>0", "<|reserved_special_token_250|>x",
          "text<|end_of_text|>", "  <|eot_id|>  ", "\n<|eot_id|>\n", "<|eot_id|>'s", "<|endoftext|>", "a <|im_start|>user\nhi<|im_end|>\n",
          "<|im_start|><|im_end|>", "<|endoftext|><|endoftext|>", "x<|endoftext|>y", "<|im_end", "<|im_start|>system\nYou are helpful.<|im_end|>",
          "<|finetune_right_pad_id|>", "<|python_tag|>print(1)", "<|eom_id|> <|eot_id|>", "<|begin_of_text|><|begin_of_text|>",
          "<|eot|>", "hello <|eot|> world", "<image>", "<image><image>", "a<s>b</s>", "a <mask> b", "x  <mask>", "<sep>  y", "a<sep> b\n", "<mask><sep>", "\t<mask>\t<sep>\t"]:
    add(s)
# Oniguruma vs JavaScript whitespace edge cases
for s in ["a\u0085b", "a\u0085\u0085b", "x \u0085", "\u0085", "\u0085 y", "a \ufeffb", "a\ufeff b", "\ufeff", "\ufeffhello",
          "a\u2028b", "a\u2029b", "a\u180eb", "a\u200bb", "x\u0085\n"]:
    add(s)
# a long paragraph
para = ("In the beginning, the assistant watched the video stream frame by frame, deciding whether to speak. "
        "It tracked steps S1, S2 and S3: \"cut the onion\", \"heat the pan\" (2 minutes), and 'stir'. ") * 8
add(para)
add("word " * 100)
add("a" * 300)
add(" " * 50 + "x")
add("9" * 100)
add("ab" * 64 + "\n" * 5)
# pseudo-random mixtures
rng = random.Random(1234)
pool = list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 '\t\n\r.,;:!?-_()[]{}<>/\\\"'") + \
       list("中文日本語한국어абвгдαβγδمرحباनमस्तेสวัสดี") + ["😀", "👍🏽", "👨‍👩‍👧", "\u00a0", "\u3000", "'s", "'LL",
       "<|eot_id|>", "<|endoftext|>", "<|im_start|>", "<|eot|>", "  ", "\r\n", "123456", "\u2028", "\u00ad", "é", "ß"]
while len(T) < 280:
    n = rng.randint(1, 40)
    T.append("".join(rng.choice(pool) for _ in range(n)))
assert len(set(T)) == len(T), [t for t in T if T.count(t) > 1]
with open("/work/wt/text/tests/text/golden/corpus.jsonl", "w") as f:
    for t in T:
        f.write(json.dumps(t, ensure_ascii=False) + "\n")
print(len(T))
