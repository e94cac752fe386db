//! The sequential model's file: a magic line, a JSON header line, then every weight and the text embeddings as
//! little-endian f32, written to a temporary file and renamed.
use super::*;
use std::io::{BufRead, Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"AISLE-SEQUENTIAL\n";

impl NeuralModel {
    /// Writes the model with a new version number.
    pub fn save(&mut self, path: &Path, version: u64) -> Result<(), NeuralError> {
        let io = |source| NeuralError::Io { path: path.display().to_string(), source };
        self.header.version = version;
        let tmp = path.with_extension("tmp");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        f.write_all(MAGIC).map_err(io)?;
        let header = serde_json::to_vec(&self.header).map_err(|e| io(e.into()))?;
        f.write_all(&header).map_err(io)?;
        f.write_all(b"\n").map_err(io)?;
        for w in self.net.list() {
            for x in w.flatten_all()?.to_vec1::<f32>()? {
                f.write_all(&x.to_le_bytes()).map_err(io)?;
            }
        }
        for x in &self.text {
            f.write_all(&x.to_le_bytes()).map_err(io)?;
        }
        f.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(())
    }

    /// Reads a model; a file of another kind, another format or cut short is a [`NeuralError::Format`].
    pub fn load(path: &Path) -> Result<Self, NeuralError> {
        let bad = || NeuralError::Format(path.display().to_string());
        let io = |source| NeuralError::Io { path: path.display().to_string(), source };
        let mut f = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let mut magic = vec![0u8; MAGIC.len()];
        f.read_exact(&mut magic).map_err(|_| bad())?;
        if magic != MAGIC {
            return Err(bad());
        }
        let mut line = vec![];
        f.read_until(b'\n', &mut line).map_err(io)?;
        let header: Header = serde_json::from_slice(&line).map_err(|_| bad())?;
        let h = &header.hyper;
        let (n, t) = (header.items.len(), header.text_dim);
        if header.format != 1 || header.trained.len() != n || h.dim == 0 || h.max_len == 0 {
            return Err(bad());
        }
        let mut read = |len: usize| -> Result<Vec<f32>, NeuralError> {
            let mut buf = vec![0u8; len * 4];
            f.read_exact(&mut buf).map_err(|_| bad())?;
            Ok(buf.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let mut list = vec![];
        for s in net::shapes(n, t, h.dim, h.max_len, h.blocks) {
            let v = read(s.iter().product())?;
            list.push(Tensor::from_vec(v, s.as_slice(), &Device::Cpu)?);
        }
        let text = read(n * t)?;
        let mut rest = [0u8; 1];
        if f.read(&mut rest).map_err(io)? != 0 {
            return Err(bad());
        }
        Self::from_parts(header, Net::from_list(list), text)
    }
}
