//! `aisle eval`: offline evaluation of the recommender on any shop's data, beside baselines from the same run.
//!
//! Protocol (printed with the results): full ranking, leave-last-out. Each shopper with at least two distinct
//! products has the last product they bought for the first time held out (ties in time broken by row order);
//! every product they bought before is excluded from the ranking; Recall@10 and NDCG@10 over all such shoppers.
//! A seeded sample of shoppers also holds out the product before that one as a validation item, used for early
//! stopping and for choosing the blend weight, never the test item. The cold-start split removes every training
//! interaction of a seeded random 10% of products and reports Recall@10 over the test cases whose product is
//! among them.
use super::data::{Dataset, Split, Train};
use super::knn::{ItemKnn, SequenceKnn};
use super::model::{evaluate_sets, recency_weights, Hyper, Metrics, Model};
use super::neural::SeqHyper;
use external::external_rows;
use sequential::run_sequential;
use std::io::Write;
mod external;
mod sequential;
mod weights;
pub use weights::*;

/// Neighbours kept per product by item-kNN.
pub const KNN_K: usize = 100;

/// How many places before or after a product in a sequence still count as bought near it.
pub const SEQ_WINDOW: usize = 10;

/// The served blend: the model's score (standardised over the catalog) plus the weighted item-kNN and sequence
/// kNN scores of the shopper's recent products (each over its maximum).
pub fn blend_scores(model_scores: &[f32], knn_scores: &[f32], seq_scores: &[f32], w: Weights) -> Vec<f32> {
    let top = |v: &[f32]| v.iter().copied().fold(0.0f32, f32::max).max(1e-6);
    let (tk, ts) = (top(knn_scores), top(seq_scores));
    standardise(model_scores)
        .into_iter()
        .zip(knn_scores)
        .zip(seq_scores)
        .map(|((m, k), q)| m + w.knn * k / tk + w.seq * q / ts)
        .collect()
}

/// Scores over their mean and standard deviation.
pub fn standardise(s: &[f32]) -> Vec<f32> {
    let n = s.len().max(1) as f32;
    let mean = s.iter().sum::<f32>() / n;
    let sd = (s.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n).sqrt().max(1e-6);
    s.iter().map(|x| (x - mean) / sd).collect()
}

/// The products bought close to the shopper's last products (the latest weighing most).
pub fn seq_recent(seq: &SequenceKnn, n_items: usize, history: &[u32], decay: f32) -> Vec<f32> {
    let (recent, w) = recent_weighted(history, 20, decay);
    let mut s = vec![0.0; n_items];
    seq.score_into(&mut s, recent, &w);
    s
}

/// The last `n` products of a history with recency weights (the same decay as the model's context).
pub fn recent_weighted(history: &[u32], n: usize, decay: f32) -> (&[u32], Vec<f32>) {
    let recent = &history[history.len().saturating_sub(n)..];
    (recent, recency_weights(recent.len(), decay))
}

/// Products of the shopper's recent history scored by item-kNN, recent ones weighing more.
pub fn knn_recent(knn: &ItemKnn, n_items: usize, history: &[u32], decay: f32) -> Vec<f32> {
    let (recent, w) = recent_weighted(history, 50, decay.sqrt());
    let mut s = vec![0.0; n_items];
    knn.score_into(&mut s, recent, &w);
    s
}

/// Places in a row of 10 kept for products nobody has bought yet (the best by the model's text-only score).
pub const NEW_SLOTS: usize = 2;

/// Re-scores so that the first `len` places are the best `len - slots` by `blended` followed by the best
/// `slots` new products (not `trained`, not `known`) by `model` score; the rest keep the blend's order below.
pub fn with_new_slots(
    blended: &[f32],
    model: &[f32],
    trained: &[bool],
    known: &[u32],
    slots: usize,
    len: usize,
) -> Vec<f32> {
    let known: std::collections::HashSet<u32> = known.iter().copied().collect();
    let mut order: Vec<u32> = (0..blended.len() as u32).filter(|i| !known.contains(i)).collect();
    order.sort_by(|&a, &b| blended[b as usize].total_cmp(&blended[a as usize]).then(a.cmp(&b)));
    let head: Vec<u32> = order.iter().copied().take(len.saturating_sub(slots)).collect();
    let mut fresh: Vec<u32> = order.iter().copied().filter(|&i| !trained[i as usize] && !head.contains(&i)).collect();
    fresh.sort_by(|&a, &b| model[b as usize].total_cmp(&model[a as usize]).then(a.cmp(&b)));
    fresh.truncate(slots);
    let floor = order.first().map_or(0.0, |&i| blended[i as usize]).max(0.0) + 1.0;
    let mut out: Vec<f32> = blended.iter().map(|s| s - floor - (len as f32) * 10.0).collect();
    for (k, &i) in head.iter().chain(&fresh).enumerate() {
        out[i as usize] = (len - k) as f32 * 10.0;
    }
    out
}

/// What ranks the products nobody has bought for the new-product places: the model's text-only score, plus the
/// sequential model's (standardised, equal weights) when there is one.
pub fn new_product_scores(model: &[f32], sequential: Option<&[f32]>) -> Vec<f32> {
    let m = standardise(model);
    match sequential {
        Some(s) => m.iter().zip(s).map(|(a, b)| a + b).collect(),
        None => m,
    }
}

/// For each product nobody has bought (in training), its closest bought products by text: a new product borrows
/// their item-kNN score, so it can enter a row next to what the shopper bought.
pub type Proxies = Vec<(u32, Vec<(u32, f32)>)>;

pub fn text_proxies(data: &Dataset, bought: &[bool], k: usize) -> Proxies {
    if data.dim == 0 {
        return vec![];
    }
    let warm: Vec<u32> = (0..data.items.len() as u32).filter(|&i| bought[i as usize]).collect();
    let new: Vec<u32> = (0..data.items.len() as u32)
        .filter(|&i| !bought[i as usize] && data.text_of(i).iter().any(|x| *x != 0.0))
        .collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = new.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let hs: Vec<_> = new
            .chunks(per)
            .map(|chunk| {
                let warm = &warm;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|&i| {
                            let t = data.text_of(i);
                            let mut near: Vec<(u32, f32)> =
                                warm.iter().map(|&j| (j, super::model::dot(t, data.text_of(j)))).collect();
                            let k = k.min(near.len());
                            if k > 0 {
                                near.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
                            }
                            near.truncate(k);
                            near.sort_by(|a, b| b.1.total_cmp(&a.1));
                            near.retain(|x| x.1 > 0.0);
                            (i, near)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Gives each new product the similarity-weighted item-kNN score of its text proxies.
pub fn borrow_scores(scores: &mut [f32], proxies: &Proxies) {
    for (i, near) in proxies {
        let total: f32 = near.iter().map(|x| x.1).sum::<f32>().max(1e-6);
        scores[*i as usize] = near.iter().map(|&(j, s)| s * scores[j as usize]).sum::<f32>() / total;
    }
}

pub struct Options {
    pub hyper: Hyper,
    pub cold_share: f32,
    pub valid_users: usize,
    /// A script that trains external baselines on the exported split (`benches/reco_baselines.py`).
    pub baselines: Option<std::path::PathBuf>,
    pub python: String,
    /// The sequential model's settings: when given, it is trained on each split, scored alone and in the blend.
    pub sequential: Option<SeqHyper>,
    /// Only the sequential model on the natural split (a quick look while tuning it).
    pub sequential_only: bool,
}

/// One row of the results table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub name: String,
    pub split: String,
    pub metrics: Metrics,
    pub seconds: f64,
}

/// Everything the shopper bought before the test items (cold products included: they were bought).
fn before_test(data: &Dataset, split: &Split, u: u32) -> Vec<u32> {
    data.sequences[u as usize][..split.test_from[u as usize]].to_vec()
}

/// One split's evaluation: its test cases (only those of cold products on the cold-start split), grouped by
/// shopper, and the rows, printed as they come.
struct SplitRun<'a, W: Write> {
    data: &'a Dataset,
    split: &'a Split,
    label: &'a str,
    cases: Vec<(u32, u32)>,
    targets: Vec<(u32, Vec<u32>)>,
    threads: usize,
    rows: Vec<Row>,
    out: &'a mut W,
}

impl<W: Write> SplitRun<'_, W> {
    /// Scores every shopper with `score` (their scores over all products) against their held-out products, then
    /// prints and keeps the row.
    fn row(&mut self, name: &str, secs: f64, score: impl Fn(u32) -> Vec<f32> + Sync) {
        let (data, split) = (self.data, self.split);
        let m = evaluate_sets(&self.targets, |u| before_test(data, split, u), score, self.threads);
        self.push(name, m, secs);
    }

    fn push(&mut self, name: &str, m: Metrics, secs: f64) {
        let label = self.label;
        let _ = writeln!(
            self.out,
            "  {label:<6} {name:<28} Recall@10 {:.4}  NDCG@10 {:.4}  ({} cases, {secs:.1} s)",
            m.recall, m.ndcg, m.cases
        );
        self.rows.push(Row { name: name.into(), split: label.into(), metrics: m, seconds: secs });
    }
}

/// Runs the evaluation on one split; prints and returns its rows.
fn run_split(
    data: &Dataset,
    split: &Split,
    label: &str,
    opts: &Options,
    out: &mut impl Write,
) -> Result<Vec<Row>, super::RecoError> {
    let threads = opts.hyper.threads.max(1);
    let n = data.items.len();
    let cases: Vec<(u32, u32)> = if split.cold.is_empty() {
        split.test.clone()
    } else {
        split.test.iter().copied().filter(|(_, i)| split.cold.contains(i)).collect()
    };
    let mut targets: Vec<(u32, Vec<u32>)> = vec![];
    for &(u, i) in &cases {
        match targets.last_mut() {
            Some((v, items)) if *v == u => items.push(i),
            _ => targets.push((u, vec![i])),
        }
    }
    let mut run = SplitRun { data, split, label, cases, targets, threads, rows: vec![], out };
    if opts.sequential_only {
        run_sequential(&mut run, opts)?;
        return Ok(run.rows);
    }

    // popularity: shoppers per product in training
    let t0 = std::time::Instant::now();
    let mut pop = vec![0f32; n];
    for h in &split.train.histories {
        for &i in h {
            pop[i as usize] += 1.0;
        }
    }
    run.row("most popular", t0.elapsed().as_secs_f64(), |_| pop.clone());

    let t0 = std::time::Instant::now();
    let knn = ItemKnn::build(n, &split.train.histories, KNN_K);
    let proxies = text_proxies(data, &split.train.trained_items(n), 5);
    let knn_secs = t0.elapsed().as_secs_f64();
    let knn_recent = |knn: &ItemKnn, n: usize, h: &[u32], decay: f32| {
        let mut s = knn_recent(knn, n, h, decay);
        borrow_scores(&mut s, &proxies);
        s
    };
    run.row("item-kNN (cosine)", knn_secs + t0.elapsed().as_secs_f64(), |u| {
        let h = &split.train.histories[u as usize];
        let mut s = vec![0.0; n];
        knn.score_into(&mut s, h, &vec![1.0; h.len()]);
        s
    });

    let _ = writeln!(
        run.out,
        "  {label:<6} training Aisle's model ({} samples per epoch, dim {}, {} threads)...",
        split.train.histories.iter().map(Vec::len).sum::<usize>(),
        opts.hyper.dim,
        threads
    );
    let (model, report) = Model::train(data, &split.train, &split.valid, &opts.hyper, |epoch, loss, valid| {
        eprintln!("  {label:<6}   epoch {epoch:>3}: loss {loss:.4}, validation NDCG@10 {valid:.4}");
    })?;
    let _ = writeln!(
        run.out,
        "  {label:<6} trained {} epochs (best {} by validation NDCG@10 {:.4}) in {:.1} s",
        report.epochs, report.best_epoch, report.best_valid_ndcg, report.seconds
    );
    let model_scores = |u: u32| {
        let h = &split.train.histories[u as usize];
        model.score_all(&model.user_vector(Some(&data.users[u as usize]), h, None))
    };
    run.row("Aisle model only", report.seconds, model_scores);
    let decay = opts.hyper.decay;
    run.row("Aisle recent kNN only", knn_secs, |u| knn_recent(&knn, n, &split.train.histories[u as usize], decay));
    let t0 = std::time::Instant::now();
    let seq = SequenceKnn::build(n, &split.train.histories, SEQ_WINDOW, KNN_K);
    let seq_secs = t0.elapsed().as_secs_f64();
    let d = Weights::default().seq_decay;
    run.row("Aisle sequence kNN only", seq_secs, |u| seq_recent(&seq, n, &split.train.histories[u as usize], d));
    let neural = match opts.sequential {
        Some(_) => Some(run_sequential(&mut run, opts)?),
        None => None,
    };

    // the blend weights are chosen on the validation items (their own history before them), never on the test
    let t0 = std::time::Instant::now();
    let w = choose_weights(data, &split.train, &split.valid, &model, threads);
    let secs = report.seconds + knn_secs + seq_secs + t0.elapsed().as_secs_f64();
    let blend = |u: u32, ms: &[f32]| {
        let h = &split.train.histories[u as usize];
        blend_scores(ms, &knn_recent(&knn, n, h, decay), &seq_recent(&seq, n, h, w.seq_decay), w)
    };
    let name = format!("Aisle (model+kNN {}+seq {}/{})", w.knn, w.seq, w.seq_decay);
    run.row(&name, secs, |u| blend(u, &model_scores(u)));
    let trained = split.train.trained_items(n);
    run.row(&format!("Aisle + {NEW_SLOTS} new-product slots"), secs, |u| {
        let ms = model_scores(u);
        with_new_slots(&blend(u, &ms), &ms, &trained, &before_test(data, split, u), NEW_SLOTS, 10)
    });

    // the sequential model joins the blend with a weight chosen on the validation items
    let Some(neural) = neural else { return external_rows(run, opts) };
    let t0 = std::time::Instant::now();
    let (nw, wn) = choose_sequential_weight(data, &split.train, &split.valid, &model, &neural, w, threads);
    let secs = secs + neural.report().seconds + t0.elapsed().as_secs_f64();
    let blend_n = |u: u32, ms: &[f32], ns: &[f32]| {
        let h = &split.train.histories[u as usize];
        let b = blend_scores(ms, &knn_recent(&knn, n, h, decay), &seq_recent(&seq, n, h, wn.seq_decay), wn);
        b.iter().zip(ns).map(|(b, x)| b + nw * x).collect::<Vec<f32>>()
    };
    let neural_scores = |u: u32| standardise(&neural.scores(&split.train.histories[u as usize], None));
    run.row(&format!("Aisle + sequential model {nw} (seq {})", wn.seq), secs, |u| {
        blend_n(u, &model_scores(u), &neural_scores(u))
    });
    // the new-product places: both models' text-only scores, standardised and added
    run.row(&format!("  the same + {NEW_SLOTS} new-product slots"), secs, |u| {
        let (ms, ns) = (model_scores(u), neural_scores(u));
        let fresh = new_product_scores(&ms, Some(&ns));
        with_new_slots(&blend_n(u, &ms, &ns), &fresh, &trained, &before_test(data, split, u), NEW_SLOTS, 10)
    });

    external_rows(run, opts)
}

/// The whole evaluation: the natural split, then the cold-start split. Prints as it goes.
pub fn run(data: &Dataset, opts: &Options, out: &mut impl Write) -> Result<Vec<Row>, super::RecoError> {
    if data.interactions() == 0 {
        return Err(super::RecoError::Invalid("no interactions to evaluate: import events first".into()));
    }
    writeln!(out, "Protocol: full ranking over all {} products, leave-last-out per shopper (last newly bought product held out; ties in time broken by row order); products the shopper bought before are excluded; validation = the product before it for {} sampled shoppers (early stopping, blend weight); seed {}.", data.items.len(), opts.valid_users, opts.hyper.seed)?;
    writeln!(
        out,
        "Data: {} shoppers, {} products, {} distinct shopper-product pairs; text features: {}.",
        data.users.len(),
        data.items.len(),
        data.interactions(),
        if data.dim > 0 {
            format!("{}-d product embeddings", data.dim)
        } else {
            "none (no product vectors in the store)".into()
        }
    )?;
    let warm = Split::leave_last_out(data, 0.0, opts.valid_users, opts.hyper.seed);
    writeln!(out, "Natural split: {} test cases.", warm.test.len())?;
    let same_order = warm
        .targets()
        .iter()
        .filter(|(u, _)| {
            let b = &data.baskets[*u as usize];
            b.len() >= 2 && b[b.len() - 1] == b[b.len() - 2]
        })
        .count();
    writeln!(
        out,
        "  {:.0}% of them are in the same order as the product before them (the next line of a basket).",
        100.0 * same_order as f64 / warm.test.len().max(1) as f64
    )?;
    let mut rows = run_split(data, &warm, "warm", opts, out)?;
    if opts.sequential_only {
        return Ok(rows);
    }
    let order = Split::last_order(data, opts.valid_users, opts.hyper.seed);
    let shoppers = order.targets().len();
    if shoppers > 0 {
        writeln!(out, "Last-order split: every new product of each shopper's last order held out ({shoppers} shoppers with an earlier order, {} products, {:.1} per order); history = the orders before; Recall@10 over min(products, 10), NDCG@10 over the ideal.", order.test.len(), order.test.len() as f64 / shoppers as f64)?;
        rows.extend(run_split(data, &order, "order", opts, out)?);
    }
    if opts.cold_share > 0.0 {
        let cold = Split::leave_last_out(data, opts.cold_share, opts.valid_users, opts.hyper.seed);
        let n_cold = cold.test.iter().filter(|(_, i)| cold.cold.contains(i)).count();
        writeln!(out, "Item-cold-start split: every training interaction of {} products ({:.0}%, seeded) removed; {} test cases have one of them as the held-out product.", cold.cold.len(), opts.cold_share * 100.0, n_cold)?;
        rows.extend(run_split(data, &cold, "cold", opts, out)?);
    }
    Ok(rows)
}
