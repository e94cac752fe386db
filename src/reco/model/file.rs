//! The model file: a JSON header line, then the parameters as little-endian f32.
use super::*;

impl Model {
    /// Writes the model (a JSON header line, then the parameters as little-endian f32) with a new version number.
    pub fn save(&mut self, path: &Path, version: u64) -> Result<(), ModelError> {
        let io = |source| ModelError::Io { path: path.display().to_string(), source };
        self.header.version = version;
        self.header.b_cold = self.p.b_cold;
        let tmp = path.with_extension("tmp");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        f.write_all(MAGIC).map_err(io)?;
        let header = serde_json::to_vec(&self.header)
            .map_err(|e| ModelError::Header { path: path.display().to_string(), source: e })?;
        f.write_all(&header).map_err(io)?;
        f.write_all(b"\n").map_err(io)?;
        for block in [&self.p.e, &self.p.a, &self.p.u, &self.p.b, &self.p.w, &self.p.v, &self.text] {
            for x in block.iter() {
                f.write_all(&x.to_le_bytes()).map_err(io)?;
            }
        }
        f.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let io = |source| ModelError::Io { path: path.display().to_string(), source };
        let mut f = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let mut magic = vec![0u8; MAGIC.len()];
        f.read_exact(&mut magic).map_err(|_| ModelError::Format(path.display().to_string()))?;
        if magic != MAGIC {
            return Err(ModelError::Format(path.display().to_string()));
        }
        let mut line = vec![];
        f.read_until(b'\n', &mut line).map_err(io)?;
        let header: Header = serde_json::from_slice(&line)
            .map_err(|e| ModelError::Header { path: path.display().to_string(), source: e })?;
        let (n, m, d, t) = (header.items.len(), header.users.len(), header.hyper.dim, header.text_dim);
        let mut read = |len: usize| -> Result<Vec<f32>, ModelError> {
            let mut buf = vec![0u8; len * 4];
            f.read_exact(&mut buf).map_err(|_| ModelError::Format(path.display().to_string()))?;
            Ok(buf.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let p = Params {
            e: read(n * d)?,
            a: read(n * d)?,
            u: read(m * d)?,
            b: read(n)?,
            w: read(d * t)?,
            v: read(d * t)?,
            b_cold: header.b_cold,
        };
        let text = read(n * t)?;
        if header.trained.len() != n {
            return Err(ModelError::Format(path.display().to_string()));
        }
        Ok(Self::from_parts(header, p, &text))
    }
}

pub(super) const MAGIC: &[u8] = b"AISLE-RECOMMENDER\n";
