//! `aisle bench recommend`: recommendation latency per request (history read from the store + ranking + rules +
//! MMR) for a seeded sample of the shop's shoppers, with the trained model and without it (item-kNN and
//! popularity only, the reference), and requests per second on two threads. Target: p99 < 5 ms at demo size.
use super::{percentile, Rng};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::reco::serve::{Recommender, Request, Served};
use crate::store::Store;
use std::time::Instant;

pub fn recommend(cfg: &Config, requests: usize, large: usize) -> anyhow::Result<()> {
    let store = Store::open(&cfg.data_dir)?;
    let catalog = Catalog::new(store.products()?);
    let rec = Recommender::open(&cfg.data_dir, &store)?;
    let served = rec.current();
    anyhow::ensure!(served.model.is_some(), "no trained model installed: run `aisle train` first");
    let users = &served.tables.data.users;
    anyhow::ensure!(!users.is_empty(), "no shoppers in the store");
    let mut rng = Rng(5);
    let sample: Vec<String> = (0..requests).map(|_| users[rng.below(users.len())].clone()).collect();
    let bare = Served::build(served.tables.data.clone(), None);
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
    let plain = Served::new(served.tables.clone(), served.model.clone());
    for (name, s) in [
        ("with the trained models", &*served),
        ("without the sequential model", &plain),
        ("reference: item-kNN + popularity only", &bare),
    ] {
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

    // synthetic scale-up: copies of real products (title + " #k", text embedding plus 10% noise, renormalised),
    // nobody has bought them: the worst case (every copy is scored from text and borrows item-kNN scores)
    if large > catalog.len() {
        let t = Instant::now();
        let mut data = served.tables.data.clone();
        let base = data.items.len();
        let mut products = vec![];
        for k in 0..large.saturating_sub(base) {
            let src = k % base;
            let Some(p) = catalog.get(&data.items[src]) else { continue };
            let id = format!("{}#{k}", p.id);
            let mut v: Vec<f32> = data.text_of(src as u32).iter().map(|x| x + (rng.unit() - 0.5) * 0.02).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
            data.item_index.insert(id.clone(), data.items.len() as u32);
            data.items.push(id.clone());
            data.text.extend(v);
            products.push(crate::catalog::Product { id, title: format!("{} #{k}", p.title), ..(*p).clone() });
        }
        for p in catalog.snapshot() {
            products.push((*p).clone());
        }
        let big_catalog = Catalog::new(products);
        let sequential = served.sequential.as_ref().map(|s| (**s).clone());
        let tables = std::sync::Arc::new(crate::reco::serve::Tables::build(data, &Default::default()));
        let big = Served::new(tables.clone(), served.model.clone()).with_sequential(sequential);
        let big_plain = Served::new(tables.clone(), served.model.clone());
        let big_bare = Served::new(tables, None);
        println!("  {} products (synthetic), built in {:.1} s:", big_catalog.len(), t.elapsed().as_secs_f64());
        let run_big = |s: &Served, list: &[String]| -> Vec<f64> {
            list.iter()
                .map(|u| {
                    let t = Instant::now();
                    let history = rec.history(&store, u).unwrap_or_default();
                    let req = Request { user: Some(u.clone()), n: 10, new_slots: 2, ..Default::default() };
                    let r = s.recommend(&big_catalog, &req, &history);
                    assert!(!r.is_empty());
                    t.elapsed().as_secs_f64() * 1000.0
                })
                .collect()
        };
        let list = &sample[..sample.len().min(300)];
        for (name, s) in [
            ("as served (exact scan, target p99 < 20 ms)", &big),
            ("without the sequential model", &big_plain),
            ("reference: item-kNN + popularity only", &big_bare),
        ] {
            if name.starts_with("as served") && big.sequential.is_none() {
                println!("  (no sequential model installed: `aisle train` installs one)");
            }
            let mut ms = run_big(s, list);
            println!("  {name:<40} p50 {:.2} ms  p99 {:.2} ms", percentile(&mut ms, 0.5), percentile(&mut ms, 0.99));
        }
    }
    Ok(())
}
