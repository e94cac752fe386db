//! Converts a BERT sentence-embedding model (Hugging Face layout: `config.json`, `vocab.txt`, `model.safetensors`,
//! e.g. all-MiniLM-L6-v2) into a GGUF that llama.cpp's BERT loader reads: matrices as f16, vectors as f32, the
//! WordPiece vocabulary in llama.cpp's word-start form (`▁word` for word starts, `##piece` without its `##`).
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Format(String),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConvertError + '_ {
    move |source| ConvertError::Io { path: path.display().to_string(), source }
}

/// A tensor read from safetensors, as f32 values with its (row-major) shape.
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

fn read_safetensors(path: &Path) -> Result<BTreeMap<String, Tensor>, ConvertError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(io(path))?;
    let mut header = vec![0u8; u64::from_le_bytes(len) as usize];
    f.read_exact(&mut header).map_err(io(path))?;
    let mut body = vec![];
    f.read_to_end(&mut body).map_err(io(path))?;
    let header: BTreeMap<String, Value> =
        serde_json::from_slice(&header).map_err(|e| ConvertError::Format(format!("safetensors header: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, meta) in header {
        if name == "__metadata__" || meta["dtype"] != "F32" {
            continue; // position_ids (I64) are not weights
        }
        let shape: Vec<usize> =
            meta["shape"].as_array().into_iter().flatten().filter_map(|d| d.as_u64()).map(|d| d as usize).collect();
        let offs: Vec<usize> = meta["data_offsets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_u64())
            .map(|d| d as usize)
            .collect();
        let bytes =
            body.get(offs[0]..offs[1]).ok_or_else(|| ConvertError::Format(format!("{name}: data out of range")))?;
        let data = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.insert(name, Tensor { shape, data });
    }
    Ok(out)
}

/// IEEE 754 binary16 from f32, rounding to nearest even.
pub fn f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1 << (shift - 1);
        let rest = m & ((1 << shift) - 1);
        let mut v = (m >> shift) as u16;
        if rest > half || (rest == half && v & 1 == 1) {
            v += 1;
        }
        return sign | v;
    }
    let mut v = ((e as u32) << 10 | (man >> 13)) as u16;
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && v & 1 == 1) {
        v += 1; // may carry into the exponent, which is still correct
    }
    sign | v
}

/// A GGUF metadata value.
pub(crate) enum Kv {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    StrArr(Vec<String>),
    I32Arr(Vec<i32>),
    F32Arr(Vec<f32>),
    U8Arr(Vec<u8>),
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    w.extend((s.len() as u64).to_le_bytes());
    w.extend(s.as_bytes());
}

fn put_kv(w: &mut Vec<u8>, key: &str, v: &Kv) {
    put_str(w, key);
    match v {
        Kv::U32(x) => {
            w.extend(4u32.to_le_bytes());
            w.extend(x.to_le_bytes());
        }
        Kv::F32(x) => {
            w.extend(6u32.to_le_bytes());
            w.extend(x.to_le_bytes());
        }
        Kv::Bool(x) => {
            w.extend(7u32.to_le_bytes());
            w.push(u8::from(*x));
        }
        Kv::Str(s) => {
            w.extend(8u32.to_le_bytes());
            put_str(w, s);
        }
        Kv::StrArr(a) => {
            put_array_head(w, 8, a.len());
            for s in a {
                put_str(w, s);
            }
        }
        Kv::I32Arr(a) => {
            put_array_head(w, 5, a.len());
            w.extend(a.iter().flat_map(|x| x.to_le_bytes()));
        }
        Kv::F32Arr(a) => {
            put_array_head(w, 6, a.len());
            w.extend(a.iter().flat_map(|x| x.to_le_bytes()));
        }
        Kv::U8Arr(a) => {
            put_array_head(w, 0, a.len());
            w.extend(a);
        }
    }
}

/// The head of a GGUF array value: the array type (9), the element type, the length.
fn put_array_head(w: &mut Vec<u8>, element_type: u32, len: usize) {
    w.extend(9u32.to_le_bytes());
    w.extend(element_type.to_le_bytes());
    w.extend((len as u64).to_le_bytes());
}

/// llama.cpp's name for a Hugging Face BERT tensor.
fn gguf_name(hf: &str) -> Option<String> {
    let fixed = match hf {
        "embeddings.word_embeddings.weight" => Some("token_embd.weight"),
        "embeddings.position_embeddings.weight" => Some("position_embd.weight"),
        "embeddings.token_type_embeddings.weight" => Some("token_types.weight"),
        "embeddings.LayerNorm.weight" => Some("token_embd_norm.weight"),
        "embeddings.LayerNorm.bias" => Some("token_embd_norm.bias"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = hf.strip_prefix("encoder.layer.")?;
    let (n, part) = rest.split_once('.')?;
    let (module, kind) = part.rsplit_once('.')?;
    let name = match module {
        "attention.self.query" => "attn_q",
        "attention.self.key" => "attn_k",
        "attention.self.value" => "attn_v",
        "attention.output.dense" => "attn_output",
        "attention.output.LayerNorm" => "attn_output_norm",
        "intermediate.dense" => "ffn_up",
        "output.dense" => "ffn_down",
        "output.LayerNorm" => "layer_output_norm",
        _ => return None,
    };
    Some(format!("blk.{n}.{name}.{kind}"))
}

/// WordPiece vocabulary in llama.cpp's form, with token types (1 normal, 2 unknown, 3 control, 5 unused).
fn vocab(path: &Path) -> Result<(Vec<String>, Vec<i32>), ConvertError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut tokens = vec![];
    let mut types = vec![];
    for tok in text.lines() {
        let (t, ty) = if tok == "[UNK]" {
            (tok.to_string(), 2)
        } else if tok.starts_with("[unused") {
            (tok.to_string(), 5)
        } else if tok.starts_with('[') && tok.ends_with(']') {
            (tok.to_string(), 3)
        } else if let Some(piece) = tok.strip_prefix("##") {
            (piece.to_string(), 1)
        } else {
            (format!("\u{2581}{tok}"), 1)
        };
        tokens.push(t);
        types.push(ty);
    }
    Ok((tokens, types))
}

/// Converts the model in `dir` into `out` (f16 matrices). Returns the number of tensors written.
pub fn bert_to_gguf(dir: &Path, out: &Path, name: &str) -> Result<usize, ConvertError> {
    bert_to_gguf_as(dir, out, name, false)
}

/// ggml's Q8_0 blocks of a row-major matrix whose rows are a multiple of 32 long: per 32 values an f16 scale
/// (largest magnitude / 127) and 32 signed bytes.
pub fn q8_0_bytes(data: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 32 * 34);
    for block in data.chunks(32) {
        let d = block.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0;
        out.extend(f16_bits(d).to_le_bytes());
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        out.extend(block.iter().map(|x| (x * inv).round().clamp(-127.0, 127.0) as i8 as u8));
    }
    out
}

/// As [`bert_to_gguf`], with the layers' matrices as Q8_0 when `q8` (the token embeddings stay f16).
pub fn bert_to_gguf_as(dir: &Path, out: &Path, name: &str, q8: bool) -> Result<usize, ConvertError> {
    let cfg_path = dir.join("config.json");
    let cfg: Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).map_err(io(&cfg_path))?)
        .map_err(|e| ConvertError::Format(format!("config.json: {e}")))?;
    let num = |k: &str| {
        cfg[k].as_u64().map(|v| v as u32).ok_or_else(|| ConvertError::Format(format!("config.json has no {k}")))
    };
    let (tokens, types) = vocab(&dir.join("vocab.txt"))?;
    let kvs: Vec<(&str, Kv)> = vec![
        ("general.architecture", Kv::Str("bert".into())),
        ("general.name", Kv::Str(name.into())),
        ("general.file_type", Kv::U32(if q8 { FILE_Q8_0 } else { FILE_F16 })),
        ("bert.context_length", Kv::U32(num("max_position_embeddings")?)),
        ("bert.embedding_length", Kv::U32(num("hidden_size")?)),
        ("bert.feed_forward_length", Kv::U32(num("intermediate_size")?)),
        ("bert.block_count", Kv::U32(num("num_hidden_layers")?)),
        ("bert.attention.head_count", Kv::U32(num("num_attention_heads")?)),
        ("bert.attention.layer_norm_epsilon", Kv::F32(cfg["layer_norm_eps"].as_f64().unwrap_or(1e-12) as f32)),
        ("bert.attention.causal", Kv::Bool(false)),
        ("bert.pooling_type", Kv::U32(1)), // mean, as sentence-transformers pools this model
        ("tokenizer.ggml.model", Kv::Str("bert".into())),
        ("tokenizer.ggml.token_type_count", Kv::U32(num("type_vocab_size").unwrap_or(2))),
        ("tokenizer.ggml.tokens", Kv::StrArr(tokens)),
        ("tokenizer.ggml.token_type", Kv::I32Arr(types)),
        ("tokenizer.ggml.bos_token_id", Kv::U32(101)),
        ("tokenizer.ggml.seperator_token_id", Kv::U32(102)),
        ("tokenizer.ggml.unknown_token_id", Kv::U32(100)),
        ("tokenizer.ggml.padding_token_id", Kv::U32(cfg["pad_token_id"].as_u64().unwrap_or(0) as u32)),
        ("tokenizer.ggml.mask_token_id", Kv::U32(103)),
        ("tokenizer.ggml.add_bos_token", Kv::Bool(true)),
        ("tokenizer.ggml.add_eos_token", Kv::Bool(false)),
    ];
    let tensors = read_safetensors(&dir.join("model.safetensors"))?;
    let mut named: Vec<(String, &Tensor)> = tensors.iter().filter_map(|(k, t)| gguf_name(k).map(|n| (n, t))).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    if named.len() < 5 {
        return Err(ConvertError::Format("no BERT tensors found".into()));
    }
    let tensors: Vec<GgufTensor> = named
        .into_iter()
        .map(|(name, t)| {
            // llama.cpp adds the token-type row as a view, which must be f32; the big matrices go to f16 (or Q8_0)
            let matrix = t.shape.len() == 2 && (name.starts_with("blk.") || name == "token_embd.weight");
            let as_q8 = q8 && matrix && name.starts_with("blk.") && t.shape[1] % 32 == 0;
            let (ggml_type, bytes) = if as_q8 {
                (GGML_Q8_0, q8_0_bytes(&t.data))
            } else if matrix {
                (GGML_F16, t.data.iter().flat_map(|x| f16_bits(*x).to_le_bytes()).collect())
            } else {
                (GGML_F32, t.data.iter().flat_map(|x| x.to_le_bytes()).collect())
            };
            // GGUF lists the fastest-moving dimension first
            let dims = t.shape.iter().rev().map(|d| *d as u64).collect();
            GgufTensor { name, dims, ggml_type, bytes }
        })
        .collect();
    write_gguf(out, &kvs, &tensors)?;
    Ok(tensors.len())
}

pub(crate) const GGML_F32: u32 = 0;
pub(crate) const GGML_F16: u32 = 1;
pub(crate) const GGML_Q8_0: u32 = 8;
pub(crate) const GGML_Q4_0: u32 = 2;

/// `general.file_type` codes (llama.cpp's `LLAMA_FTYPE_*`: the type most of the weights are stored in).
pub(crate) const FILE_F32: u32 = 0;
pub(crate) const FILE_F16: u32 = 1;
pub(crate) const FILE_Q4_0: u32 = 2;
pub(crate) const FILE_Q8_0: u32 = 7;

/// The name of a `general.file_type` code, as the embedding model's id records it.
pub(crate) fn file_type_name(code: &str) -> String {
    match code.parse::<u32>() {
        Ok(FILE_F32) => "f32".to_string(),
        Ok(FILE_F16) => "f16".to_string(),
        Ok(FILE_Q4_0) => "q4_0".to_string(),
        Ok(FILE_Q8_0) => "q8_0".to_string(),
        _ => format!("type{code}"),
    }
}

/// One tensor to write: its llama.cpp name, dimensions (fastest-moving first), ggml type and raw bytes.
pub(crate) struct GgufTensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub bytes: Vec<u8>,
}

/// Writes a GGUF v3 file (metadata, tensor directory, 32-byte aligned data) through a `.part` file and a rename,
/// so a half-written model is never picked up.
pub(crate) fn write_gguf(out: &Path, kvs: &[(&str, Kv)], tensors: &[GgufTensor]) -> Result<(), ConvertError> {
    const ALIGN: usize = 32;
    let mut head = vec![];
    head.extend(b"GGUF");
    head.extend(3u32.to_le_bytes());
    head.extend((tensors.len() as u64).to_le_bytes());
    head.extend((kvs.len() as u64).to_le_bytes());
    for (k, v) in kvs {
        put_kv(&mut head, k, v);
    }
    let mut offset = 0usize;
    for t in tensors {
        put_str(&mut head, &t.name);
        head.extend((t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            head.extend(d.to_le_bytes());
        }
        head.extend(t.ggml_type.to_le_bytes());
        head.extend((offset as u64).to_le_bytes());
        offset += t.bytes.len().div_ceil(ALIGN) * ALIGN;
    }
    head.resize(head.len().div_ceil(ALIGN) * ALIGN, 0);
    let tmp = out.with_extension("gguf.part");
    let write = || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(&head)?;
        for t in tensors {
            f.write_all(&t.bytes)?;
            f.write_all(&vec![0u8; t.bytes.len().div_ceil(ALIGN) * ALIGN - t.bytes.len()])?;
        }
        f.flush()
    };
    write().map_err(io(&tmp))?;
    std::fs::rename(&tmp, out).map_err(io(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_blocks_hold_a_scale_and_32_rounded_bytes() {
        let row: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) / 10.0).collect();
        let bytes = q8_0_bytes(&row);
        assert_eq!(bytes.len(), 2 * 34, "two blocks of an f16 scale and 32 bytes");
        for (b, block) in row.chunks(32).enumerate() {
            let at = b * 34;
            let largest = block.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert_eq!(u16::from_le_bytes([bytes[at], bytes[at + 1]]), f16_bits(largest / 127.0));
            let d = largest / 127.0;
            for (i, x) in block.iter().enumerate() {
                let q = bytes[at + 2 + i] as i8;
                assert!((f32::from(q) * d - x).abs() <= d / 2.0 + 1e-6, "{x} stored as {q} x {d}");
            }
            let top = block.iter().position(|x| x.abs() == largest).unwrap();
            assert_eq!((bytes[at + 2 + top] as i8).unsigned_abs(), 127, "the largest weight uses the full range");
        }
    }

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(-2.0), 0xc000);
        assert_eq!(f16_bits(0.0), 0);
        assert_eq!(f16_bits(65504.0), 0x7bff);
        assert_eq!(f16_bits(1e9), 0x7c00);
        assert_eq!(f16_bits(5.960_464_5e-8), 0x0001); // smallest subnormal
        assert_eq!(f16_bits(0.333_333_34), 0x3555);
    }

    #[test]
    fn hugging_face_names_map_to_llama_cpp_names() {
        assert_eq!(gguf_name("encoder.layer.3.attention.self.query.bias").as_deref(), Some("blk.3.attn_q.bias"));
        assert_eq!(
            gguf_name("encoder.layer.0.output.LayerNorm.weight").as_deref(),
            Some("blk.0.layer_output_norm.weight")
        );
        assert_eq!(gguf_name("embeddings.word_embeddings.weight").as_deref(), Some("token_embd.weight"));
        assert_eq!(gguf_name("pooler.dense.weight"), None);
    }
}
