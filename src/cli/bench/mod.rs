//! `aisle bench ...`: benchmark commands. Each prints its figures beside a reference measured in the same run;
//! the results are recorded in BENCHMARKS.md with the command that produced them.
pub mod anomaly;
pub mod blend;
pub mod capacity;
pub mod chat;
pub mod console;
pub mod contention;
pub mod engine;
pub mod experiment;
pub mod forecast;
pub mod import;
pub mod intent;
pub mod lang;
pub mod load;
pub mod recommend;
pub mod search;
pub mod sentiment;
pub mod shopping;
pub mod start;

pub(crate) fn rss_kib(field: &str) -> u64 {
    status_kib("self", field)
}

/// A memory field (`VmRSS`, `VmHWM`) of a process's `/proc/PID/status` in KiB; `pid` "self" is this process.
pub(crate) fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

pub(crate) fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

pub(crate) use crate::rng::Rng;

/// A scratch directory under the system's temp dir, removed when dropped.
pub(crate) struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> std::io::Result<Self> {
        let p = std::env::temp_dir().join(format!("aisle-bench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
