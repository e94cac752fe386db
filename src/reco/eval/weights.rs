//! The served blend's weights chosen on validation items, and the model trained for serving with them.
use super::*;
use crate::reco::neural::{NeuralError, NeuralModel, Start};

/// The weights of the served blend, chosen on the validation items (the defaults serve a shop without a trained
/// model).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Weights {
    /// Item-kNN over the shopper's recent products (bought by the same shoppers).
    pub knn: f32,
    /// Sequence kNN over the last products (bought close to them in shoppers' sequences).
    pub seq: f32,
    /// How much each older product counts for the sequence part (per place back).
    pub seq_decay: f32,
    /// The sequential model's standardised score, when one is served (0 without it, and in blends chosen before
    /// it existed).
    #[serde(default)]
    pub sequential: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Self { knn: 1.0, seq: 2.0, seq_decay: 0.5, sequential: 0.0 }
    }
}

/// Each training history up to its validation item (the item and what came after it left out): the tables a
/// blend is chosen with must not have seen the pairs it is judged on.
pub fn before_held(train: &Train) -> Vec<Vec<u32>> {
    train.histories.iter().zip(&train.held).map(|(h, held)| h[..held.unwrap_or(h.len())].to_vec()).collect()
}

/// The validation items' histories and the tables built without them.
struct Clean {
    histories: Vec<Vec<u32>>,
    knn: ItemKnn,
    proxies: Proxies,
    seq: SequenceKnn,
}

impl Clean {
    fn build(data: &Dataset, train: &Train) -> Self {
        let n = data.items.len();
        let histories = before_held(train);
        let mut bought = vec![false; n];
        histories.iter().flatten().for_each(|&i| bought[i as usize] = true);
        Self {
            knn: ItemKnn::build(n, &histories, KNN_K),
            proxies: text_proxies(data, &bought, 5),
            seq: SequenceKnn::build(n, &histories, SEQ_WINDOW, KNN_K),
            histories,
        }
    }
}

/// The grid the blend weights are chosen from.
const WEIGHT_GRID: [f32; 9] = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
const DECAY_GRID: [f32; 4] = [0.2, 0.35, 0.5, 0.7];

/// One validation case with its parts scored once: the model's standardised scores, and the kNN and sequence
/// scores (sparse, each over its maximum; one per sequence decay).
struct ValidCase {
    target: u32,
    known: Vec<u32>,
    model: Vec<f32>,
    knn: Vec<(u32, f32)>,
    seq: Vec<Vec<(u32, f32)>>,
}

fn sparse_over_top(v: &[f32]) -> Vec<(u32, f32)> {
    let top = v.iter().copied().fold(0.0f32, f32::max).max(1e-6);
    v.iter().enumerate().filter(|(_, x)| **x != 0.0).map(|(i, x)| (i as u32, x / top)).collect()
}

/// The blend weights that score best (NDCG@10) on the validation items, each scored from its own history before
/// it, with kNN and sequence tables built without the validation items: kNN and sequence weights from
/// [`WEIGHT_GRID`], the sequence decay from [`DECAY_GRID`].
pub fn choose_weights(data: &Dataset, train: &Train, valid: &[(u32, u32)], model: &Model, threads: usize) -> Weights {
    let n = data.items.len();
    let Clean { histories: clean, knn, proxies, seq } = Clean::build(data, train);
    let decay = model.header_hyper().decay;
    // the dense model scores are kept for each case: at most ~80 MB of them
    let cases = &valid[..valid.len().min((20_000_000 / n.max(1)).max(50))];
    let score_case = |&(u, target): &(u32, u32)| {
        let h = &clean[u as usize];
        let ms = model.score_all(&model.user_vector(Some(&data.users[u as usize]), h, None));
        let z = standardise(&ms);
        let mut k = knn_recent(&knn, n, h, decay);
        borrow_scores(&mut k, &proxies);
        let seq = DECAY_GRID.iter().map(|&d| sparse_over_top(&seq_recent(&seq, n, h, d))).collect();
        ValidCase { target, known: h.clone(), model: z, knn: sparse_over_top(&k), seq }
    };
    let per = cases.len().div_ceil(threads.max(1)).max(1);
    let scored: Vec<ValidCase> = std::thread::scope(|s| {
        let hs: Vec<_> =
            cases.chunks(per).map(|c| s.spawn(move || c.iter().map(score_case).collect::<Vec<_>>())).collect();
        hs.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut grid = vec![];
    for (d, &seq_decay) in DECAY_GRID.iter().enumerate() {
        for &k in &WEIGHT_GRID {
            for &q in &WEIGHT_GRID {
                grid.push((d, Weights { knn: k, seq: q, seq_decay, sequential: 0.0 }));
            }
        }
    }
    let ndcg = |(d, w): &(usize, Weights)| {
        let mut m = Metrics::default();
        for c in &scored {
            let mut s = c.model.clone();
            c.knn.iter().for_each(|&(i, x)| s[i as usize] += w.knn * x);
            c.seq[*d].iter().for_each(|&(i, x)| s[i as usize] += w.seq * x);
            m.add(crate::reco::model::rank_of(&s, c.target, &c.known));
        }
        m.ndcg
    };
    let per = grid.len().div_ceil(threads.max(1)).max(1);
    let found: Vec<f64> = std::thread::scope(|s| {
        let hs: Vec<_> = grid.chunks(per).map(|g| s.spawn(move || g.iter().map(ndcg).collect::<Vec<_>>())).collect();
        hs.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    // the first best in grid order: the smaller weights win a tie
    let mut best = (f64::MIN, Weights::default());
    for ((_, w), v) in grid.iter().zip(found) {
        if v > best.0 {
            best = (v, *w);
        }
    }
    best.1
}

/// What `aisle train` trains for serving: the model with its blend weights and, when asked for, the sequential
/// model (its weight among them).
pub struct ForServing {
    pub model: Model,
    pub sequential: Option<NeuralModel>,
    /// The sequential model continued from the served one on new events only (a warm start).
    pub warm: bool,
}

/// How the sequential model is trained for serving: its settings, and the served one to continue from (a warm
/// start, when it has the same shapes).
pub struct SequentialPlan<'a> {
    pub hyper: SeqHyper,
    pub from: Option<&'a NeuralModel>,
}

/// Trains the serving model on everything (with a validation sample for early stopping), and the sequential
/// model when `sequential` says so; the blend weights are chosen on the validation sample.
pub fn train_for_serving(
    data: &Dataset,
    hyper: &Hyper,
    sequential: Option<SequentialPlan>,
    progress: impl FnMut(usize, f64, f64),
    seq_progress: impl FnMut(crate::reco::neural::Progress),
) -> Result<ForServing, crate::reco::RecoError> {
    // validation: the second-to-last product of a seeded sample of shoppers (context = what came before it)
    let sample = Split::leave_last_out(data, 0.0, 1000, hyper.seed).valid;
    let mut train = Train::all(data);
    let valid: Vec<(u32, u32)> = sample
        .iter()
        .map(|&(u, _)| {
            let s = &data.sequences[u as usize];
            train.held[u as usize] = Some(s.len() - 2);
            (u, s[s.len() - 2])
        })
        .collect();
    let (mut model, _) = Model::train(data, &train, &valid, hyper, progress)?;
    let w = choose_weights(data, &train, &valid, &model, hyper.threads);
    model.set_weights(w);
    let Some(plan) = sequential else { return Ok(ForServing { model, sequential: None, warm: false }) };
    let h = SeqHyper { seed: hyper.seed, ..plan.hyper };
    let from = plan.from.filter(|f| f.warm_start_fits(data, &h));
    let new_from = from.map(|f| f.new_from(data));
    let start = match (from, &new_from) {
        (Some(from), Some(new_from)) => Start::Warm { from, new_from },
        _ => Start::Fresh,
    };
    let neural = match NeuralModel::train(data, &train, &valid, &h, start, hyper.threads, seq_progress) {
        Ok((n, _)) => n,
        // nothing new since the served one: it stays as it is
        Err(crate::reco::neural::NeuralError::Empty) if from.is_some() => from.cloned().ok_or(NeuralError::Empty)?,
        Err(e) => return Err(e.into()),
    };
    let (_, w) = choose_sequential_weight(data, &train, &valid, &model, &neural, w, hyper.threads);
    model.set_weights(w);
    Ok(ForServing { model, sequential: Some(neural), warm: from.is_some() })
}

/// The sequential model's weight in the blend (its standardised score added to the blend of `w`), chosen with the
/// sequence kNN's weight again on the same validation items and tables as [`choose_weights`]. Returns the
/// sequential model's weight and the blend's weights.
pub fn choose_sequential_weight(
    data: &Dataset,
    train: &Train,
    valid: &[(u32, u32)],
    model: &Model,
    neural: &crate::reco::neural::NeuralModel,
    w: Weights,
    threads: usize,
) -> (f32, Weights) {
    let n = data.items.len();
    let Clean { histories: clean, knn, proxies, seq } = Clean::build(data, train);
    let decay = model.header_hyper().decay;
    let cases = &valid[..valid.len().min((10_000_000 / n.max(1)).max(50))];
    // per case: the blend without the sequence part, the sequence part, the sequential model (standardised)
    let score_case = |&(u, target): &(u32, u32)| {
        let h = &clean[u as usize];
        let mut k = knn_recent(&knn, n, h, decay);
        borrow_scores(&mut k, &proxies);
        let ms = model.score_all(&model.user_vector(Some(&data.users[u as usize]), h, None));
        let base = blend_scores(&ms, &k, &vec![0.0; n], Weights { seq: 0.0, ..w });
        let s = sparse_over_top(&seq_recent(&seq, n, h, w.seq_decay));
        (target, h.clone(), base, s, standardise(&neural.scores(h, None)))
    };
    let per = cases.len().div_ceil(threads.max(1)).max(1);
    let scored: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> =
            cases.chunks(per).map(|c| s.spawn(move || c.iter().map(score_case).collect::<Vec<_>>())).collect();
        hs.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut best = (f64::MIN, 0.0, w);
    for &nw in &SEQUENTIAL_GRID {
        for &q in &WEIGHT_GRID {
            let mut m = Metrics::default();
            for (target, known, base, seq, neural) in &scored {
                let mut s: Vec<f32> = base.iter().zip(neural).map(|(b, x)| b + nw * x).collect();
                seq.iter().for_each(|&(i, x)| s[i as usize] += q * x);
                m.add(crate::reco::model::rank_of(&s, *target, known));
            }
            if m.ndcg > best.0 {
                best = (m.ndcg, nw, Weights { seq: q, sequential: nw, ..w });
            }
        }
    }
    (best.1, best.2)
}

/// The grid the sequential model's weight is chosen from.
const SEQUENTIAL_GRID: [f32; 7] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];
