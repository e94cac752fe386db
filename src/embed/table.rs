//! A static token table distilled from the sentence model, for queries that must be embedded in microseconds.
//!
//! Each vocabulary entry is embedded alone by the sentence model (`[CLS] token [SEP]`, mean-pooled, normalised)
//! once, and stored as one 8-bit row per token. A text's vector is then the normalised mean of its tokens' rows:
//! no transformer runs, so the word order and the context are lost, and the vector lies in the sentence model's
//! space only roughly. Products keep their sentence-model vectors; queries embedded this way are compared with
//! them. `aisle bench search-quality` measures what that costs beside the full model, and `search-speed` what it
//! saves.
use super::Embedder;
use crate::llm::LlmError;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"AISLETT1";
/// Vocabulary entries per request to the embedding thread while the table is built.
const CHUNK: usize = 512;

pub struct TokenTable {
    /// The sentence model's vocabulary alone (no weights): tokenises queries on the caller's thread.
    vocab: LlamaModel,
    /// The sentence model the rows come from (its [`Embedder::model_id`]).
    pub model_id: String,
    pub dim: usize,
    /// One row of `dim` 8-bit values per token; a row times its scale is the token's unit vector.
    rows: Vec<i8>,
    scales: Vec<f32>,
    /// The mean row: what every token's vector shares (the `[CLS]` and `[SEP]` around it, mostly).
    mean: Vec<f32>,
}

impl TokenTable {
    /// Loads the table saved at `path` for this embedder's model, or builds it (every vocabulary entry through
    /// the embedding thread) and saves it. `model` is the embedder's GGUF file, read here for its vocabulary.
    pub fn open_or_build(model: &Path, embedder: &Embedder, path: &Path) -> Result<Self, LlmError> {
        let backend = crate::llm::backend()?;
        let vocab = LlamaModel::load_from_file(backend, model, &LlamaModelParams::default().with_vocab_only(true))
            .map_err(|e| LlmError::Load { path: model.to_path_buf(), why: e.to_string() })?;
        let file_err = |e: std::io::Error| LlmError::Backend(format!("token table {}: {e}", path.display()));
        if let Some((rows, scales)) = read(path, &embedder.model_id, embedder.dim).map_err(file_err)? {
            return Ok(Self::new(vocab, embedder, rows, scales));
        }
        let v = vocab.vocab();
        let frame = v.tokenize(b"", true, false);
        let n = v.n_tokens();
        tracing::info!(tokens = n, "building the token table (each vocabulary entry through the embedding model)");
        let bar = crate::import::progress(n as u64, "token table");
        let (mut rows, mut scales) = (Vec::with_capacity(n as usize * embedder.dim), Vec::with_capacity(n as usize));
        let ids: Vec<i32> = (0..n).collect();
        for chunk in ids.chunks(CHUNK) {
            let seqs: Vec<Vec<i32>> = chunk
                .iter()
                .map(|&t| {
                    let mut s: Vec<i32> = frame.iter().map(|x| x.0).collect();
                    s.insert(frame.len().min(1), t);
                    s
                })
                .collect();
            let vecs = embedder.embed_tokens_blocking(seqs)?;
            for (&t, vec) in chunk.iter().zip(vecs) {
                // control tokens ([CLS], [PAD], [unused0]...) never come out of tokenising text: a zero row
                let vec = if v.is_control(llama_cpp_2::token::LlamaToken(t)) { vec![0.0; embedder.dim] } else { vec };
                let (q, s) = quantize(&vec);
                rows.extend(q);
                scales.push(s);
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        write(path, &embedder.model_id, embedder.dim, &rows, &scales).map_err(file_err)?;
        Ok(Self::new(vocab, embedder, rows, scales))
    }

    fn new(vocab: LlamaModel, embedder: &Embedder, rows: Vec<i8>, scales: Vec<f32>) -> Self {
        let dim = embedder.dim;
        let mut mean = vec![0f32; dim];
        let used = scales.iter().filter(|s| **s > 0.0).count().max(1) as f32;
        for (row, s) in rows.chunks_exact(dim).zip(&scales) {
            for (m, q) in mean.iter_mut().zip(row) {
                *m += s * f32::from(*q) / used;
            }
        }
        Self { vocab, model_id: embedder.model_id.clone(), dim, rows, scales, mean }
    }

    /// The text's vector: the normalised mean of its tokens' rows (the zero vector for a text without tokens).
    pub fn encode(&self, text: &str) -> Vec<f32> {
        let toks = self.vocab.vocab().tokenize(text.as_bytes(), false, false);
        let mut sum = vec![0f32; self.dim];
        for t in toks.iter().take(super::MAX_TOKENS) {
            let i = t.0 as usize;
            let Some(row) = self.rows.get(i * self.dim..(i + 1) * self.dim) else { continue };
            let s = self.scales[i];
            if s == 0.0 {
                continue;
            }
            for ((acc, q), m) in sum.iter_mut().zip(row).zip(&self.mean) {
                *acc += s * f32::from(*q) - m;
            }
        }
        if sum.iter().all(|x| *x == 0.0) {
            return sum;
        }
        super::normalise(&sum)
    }
}

/// 8-bit values and the scale that brings them back.
fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (vec![0; v.len()], 0.0);
    }
    let s = max / 127.0;
    (v.iter().map(|x| (x / s).round().clamp(-127.0, 127.0) as i8).collect(), s)
}

fn write(path: &Path, model_id: &str, dim: usize, rows: &[i8], scales: &[f32]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    f.write_all(MAGIC)?;
    for n in [model_id.len(), dim, scales.len()] {
        f.write_all(&(n as u32).to_le_bytes())?;
    }
    f.write_all(model_id.as_bytes())?;
    for s in scales {
        f.write_all(&s.to_le_bytes())?;
    }
    f.write_all(&rows.iter().map(|x| *x as u8).collect::<Vec<u8>>())?;
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(tmp, path)
}

/// The saved rows and scales, or None when there is no file or it was made for another model.
type Rows = (Vec<i8>, Vec<f32>);

fn read(path: &Path, model_id: &str, dim: usize) -> std::io::Result<Option<Rows>> {
    let Ok(mut f) = std::fs::File::open(path) else { return Ok(None) };
    let mut bytes = vec![];
    f.read_to_end(&mut bytes)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a token table of this version");
    let (head, rest) = bytes.split_at_checked(20).ok_or_else(bad)?;
    if &head[..8] != MAGIC {
        return Err(bad());
    }
    let word = |i: usize| u32::from_le_bytes(head[8 + 4 * i..12 + 4 * i].try_into().expect("4 bytes")) as usize;
    let (id_len, file_dim, n) = (word(0), word(1), word(2));
    let (id, rest) = rest.split_at_checked(id_len).ok_or_else(bad)?;
    if id != model_id.as_bytes() || file_dim != dim {
        return Ok(None);
    }
    let (scales, rows) = rest.split_at_checked(4 * n).ok_or_else(bad)?;
    if rows.len() != n * dim {
        return Err(bad());
    }
    let scales = scales.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
    Ok(Some((rows.iter().map(|x| *x as i8).collect(), scales)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_from_the_file_and_another_models_file_is_not_used() {
        let dir = std::env::temp_dir().join(format!("aisle-tt-{}", std::process::id()));
        let path = dir.join("t.bin");
        let (q, s) = quantize(&[0.5, -1.0, 0.25]);
        write(&path, "m1", 3, &q, &[s]).unwrap();
        let (rows, scales) = read(&path, "m1", 3).unwrap().unwrap();
        let back: Vec<f32> = rows.iter().map(|x| scales[0] * f32::from(*x)).collect();
        for (a, b) in back.iter().zip([0.5, -1.0, 0.25]) {
            assert!((a - b).abs() < 0.01, "{back:?}");
        }
        assert!(read(&path, "m2", 3).unwrap().is_none(), "another model's table");
        std::fs::write(&path, b"AISLETT1 short").unwrap();
        assert!(read(&path, "m1", 3).is_err(), "a cut file is an error, not rows");
        let _ = std::fs::remove_dir_all(dir);
    }
}
