//! The external baselines (`benches/reco_baselines.py`: implicit ALS, LightFM, SASRec...) run by a Python script
//! on the same split, exported as plain text.
use super::{before_test, Dataset, Metrics, Options, Row, Split, SplitRun};
use crate::reco::RecoError;
use std::io::Write;
use std::path::Path;

/// Exports the split, runs `script` on it and reads its rows back: (name, metrics, seconds). A script that fails
/// or cannot start is reported on `out` and gives no rows.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    script: &Path,
    opts: &Options,
    data: &Dataset,
    split: &Split,
    cases: &[(u32, u32)],
    known: impl Fn(u32) -> Vec<u32>,
    label: &str,
    out: &mut dyn Write,
) -> std::io::Result<Vec<(String, Metrics, f64)>> {
    let threads = opts.hyper.threads.max(1);
    let mut rows = vec![];
    let dir = tempfile_dir()?;
    export(&dir, data, split, cases, known)?;
    let _ = writeln!(out, "  {label:<6} external baselines ({} {})...", opts.python, script.display());
    let output = std::process::Command::new(&opts.python)
        .arg(script)
        .arg(&dir)
        .arg(threads.to_string())
        .stderr(std::process::Stdio::inherit())
        .output();
    match output {
        Ok(o) if o.status.success() => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
                let m = Metrics {
                    cases: v["cases"].as_u64().unwrap_or(0) as usize,
                    recall: v["recall"].as_f64().unwrap_or(0.0),
                    ndcg: v["ndcg"].as_f64().unwrap_or(0.0),
                };
                rows.push((v["name"].as_str().unwrap_or("?").to_string(), m, v["seconds"].as_f64().unwrap_or(0.0)));
            }
        }
        Ok(o) => {
            let _ = writeln!(out, "  {label:<6} external baselines failed ({}); see the messages above", o.status);
        }
        Err(e) => {
            let _ = writeln!(out, "  {label:<6} external baselines not run: {} ({e})", opts.python);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("aisle-eval-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The split as plain text for the baseline script: `train.csv` (user,item), `known.csv` (user,item: excluded
/// from ranking), `test.csv` (user,item), and the item count.
fn export(
    dir: &Path,
    data: &Dataset,
    split: &Split,
    cases: &[(u32, u32)],
    known: impl Fn(u32) -> Vec<u32>,
) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("train.csv"))?);
    for (u, h) in split.train.histories.iter().enumerate() {
        for (k, i) in h.iter().enumerate() {
            if split.train.held[u] != Some(k) {
                writeln!(f, "{u},{i}")?;
            }
        }
    }
    let mut k = std::io::BufWriter::new(std::fs::File::create(dir.join("known.csv"))?);
    let mut t = std::io::BufWriter::new(std::fs::File::create(dir.join("test.csv"))?);
    for &(u, i) in cases {
        writeln!(t, "{u},{i}")?;
        for j in known(u) {
            writeln!(k, "{u},{j}")?;
        }
    }
    std::fs::write(dir.join("shape.txt"), format!("{} {}\n", data.users.len(), data.items.len()))
}

/// The baseline script's rows (it scores one held-out product per shopper), then the split's rows.
pub(super) fn external_rows<W: Write>(mut r: SplitRun<'_, W>, opts: &Options) -> Result<Vec<Row>, RecoError> {
    let (data, split, label) = (r.data, r.split, r.label);
    if let (Some(script), true) = (&opts.baselines, r.targets.len() == r.cases.len()) {
        let known = |u| before_test(data, split, u);
        let found = run(script, opts, data, split, &r.cases, known, label, r.out)?;
        for (name, m, secs) in found {
            r.push(&name, m, secs);
        }
    }
    Ok(r.rows)
}
