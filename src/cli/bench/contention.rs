//! `aisle bench contention`: the chat turn beside other work on the same machine, started by the benchmark itself:
//! quiet, one spinning process, two, and another llama.cpp process decoding with its own thread pool
//! (`llama-bench`, when `.ci/llama-tools` has built it: a runtime that keeps its worker threads busy). Each is run
//! with the configured llama.cpp thread count and with one thread, so the figures say which degrades in
//! proportion to the CPU it loses and which collapses. Reference: the quiet row of the same run.
use super::chat::{measure_turn, ASKS};
use super::percentile;
use crate::app::Shop;
use crate::config::Config;
use std::process::{Child, Command, Stdio};

/// Competing work, running until dropped.
pub(super) struct Competitors(Vec<Child>);

impl Drop for Competitors {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(super) fn spinners(n: usize) -> anyhow::Result<Competitors> {
    let mut out = vec![];
    for _ in 0..n {
        out.push(Command::new("sh").args(["-c", "while :; do :; done"]).stdout(Stdio::null()).spawn()?);
    }
    Ok(Competitors(out))
}

/// `llama-bench` decoding the same model on two threads, over and over (None when it is not built here).
fn llama_job(model: &std::path::Path) -> Option<Competitors> {
    // AISLE_LLAMA_BENCH, else the one .ci/llama-tools caches (never built from here: that takes 15 minutes)
    let bin = std::env::var_os("AISLE_LLAMA_BENCH").map(std::path::PathBuf::from).or_else(|| {
        let cache = std::path::Path::new(&std::env::var_os("HOME")?).join(".cache/aisle");
        std::fs::read_dir(cache).ok()?.flatten().map(|e| e.path().join("bin/llama-bench")).find(|p| p.is_file())
    })?;
    if !bin.is_file() {
        return None;
    }
    // run directly (not under a shell loop), so killing it stops the decoding itself
    let child = Command::new(bin)
        .arg("-m")
        .arg(model)
        .args(["-t", "2", "-p", "0", "-n", "256", "-r", "100000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Competitors(vec![child]))
}

/// Turn done p50 (ms) and decode tokens/s p50 over `rounds` passes of the requests.
async fn measure(shop: &Shop, rounds: usize) -> anyhow::Result<(f64, f64)> {
    let (mut done, mut tps) = (vec![], vec![]);
    for _ in 0..rounds {
        for ask in ASKS {
            let t = measure_turn(&shop.assistant, ask).await?;
            done.push(t.done_ms);
            if let Some(s) = t.stats.filter(|s| s.generated_tokens >= 8) {
                tps.push(s.tokens_per_second());
            }
        }
    }
    Ok((percentile(&mut done, 0.5), percentile(&mut tps, 0.5)))
}

pub async fn contention(cfg: &Config, rounds: usize) -> anyhow::Result<()> {
    let mut threads = vec![cfg.llm.threads];
    if cfg.llm.threads != 1 {
        threads.push(1);
    }
    let conditions = ["quiet", "1 spinning process", "2 spinning processes", "llama-bench -t 2 beside"];
    // rows[condition][thread setting] = (done p50, tokens/s)
    let mut rows: Vec<Vec<Option<(f64, f64)>>> = vec![vec![None; threads.len()]; conditions.len()];
    for (ti, &t) in threads.iter().enumerate() {
        let mut c = cfg.clone();
        c.llm.threads = t;
        let shop = Shop::open(&c).await?;
        measure(&shop, 1).await?; // warm: caches, first allocations
        for (ci, name) in conditions.iter().enumerate() {
            let _load = match ci {
                0 => Competitors(vec![]),
                1 => spinners(1)?,
                2 => spinners(2)?,
                _ => match llama_job(&c.llm.model) {
                    Some(j) => j,
                    None => {
                        eprintln!("llama-bench not found (run .ci/llama-tools): skipping \"{name}\"");
                        continue;
                    }
                },
            };
            // let the competitors get going
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            rows[ci][ti] = Some(measure(&shop, rounds).await?);
        }
        shop.engine.shutdown();
    }
    println!("aisle bench contention: {} turns per row, {} cores", ASKS.len() * rounds, num_cores());
    print!("{:<28}", "turn done p50 ms (x quiet)");
    for t in &threads {
        print!(" {:>26}", format!("{t} llama.cpp thread(s)"));
    }
    println!();
    for (ci, name) in conditions.iter().enumerate() {
        print!("{name:<28}");
        for (cell, quiet) in rows[ci].iter().zip(&rows[0]) {
            let cell = match (cell, quiet) {
                (Some((ms, tps)), Some((quiet, _))) => {
                    format!("{ms:.0} ({:.1}x) {tps:.1} tok/s", ms / quiet.max(1e-9))
                }
                _ => "-".into(),
            };
            print!(" {cell:>26}");
        }
        println!();
    }
    Ok(())
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
