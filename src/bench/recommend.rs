//! `aisle bench recommend`: recommendation latency per request (history read from the store + ranking + rules +
//! MMR) for a seeded sample of the shop's shoppers, with the trained model and without it (item-kNN and
//! popularity only, the reference), and requests per second on two threads. Target: p99 < 5 ms at demo size.
use super::{percentile, Rng};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::reco::serve::{Recommender, Request, Served};
use crate::store::Store;
use std::time::Instant;

pub fn recommend(cfg: &Config, requests: usize) -> anyhow::Result<()> {
    let store = Store::open(&cfg.data_dir)?;
    let catalog = Catalog::new(store.products()?);
    let rec = Recommender::open(&cfg.data_dir, &store)?;
    let served = rec.current();
    anyhow::ensure!(served.model.is_some(), "no trained model installed: run `aisle train` first");
    let users = &served.data.users;
    anyhow::ensure!(!users.is_empty(), "no shoppers in the store");
    let mut rng = Rng(5);
    let sample: Vec<String> = (0..requests).map(|_| users[rng.below(users.len())].clone()).collect();
    let bare = Served::build(served.data.clone(), None);
    let run = |s: &Served, list: &[String]| -> Vec<f64> {
        list.iter()
            .map(|u| {
                let t = Instant::now();
                let history = rec.history(&store, u).unwrap_or_default();
                let r =
                    s.recommend(&catalog, &Request { user: Some(u.clone()), n: 10, ..Default::default() }, &history);
                assert!(!r.is_empty());
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect()
    };
    println!(
        "{} products, {} shoppers, {} requests (seeded sample of shoppers), 10 picks each",
        catalog.len(),
        users.len(),
        requests
    );
    for (name, s) in [("with the trained model", &*served), ("reference: item-kNN + popularity only", &bare)] {
        let mut ms = run(s, &sample);
        println!(
            "  {name:<40} p50 {:.2} ms  p99 {:.2} ms  (target p99 < 5 ms)",
            percentile(&mut ms, 0.5),
            percentile(&mut ms, 0.99)
        );
    }
    let t = Instant::now();
    std::thread::scope(|sc| {
        let (a, b) = sample.split_at(sample.len() / 2);
        let h1 = sc.spawn(|| run(&served, a));
        let h2 = sc.spawn(|| run(&served, b));
        let _ = (h1.join(), h2.join());
    });
    println!("  requests/s on 2 threads: {:.0}", requests as f64 / t.elapsed().as_secs_f64());
    Ok(())
}
