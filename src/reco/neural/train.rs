//! Fitting the sequential model: windows of each shopper's sequence, every position predicting the next product
//! (sampled softmax over the true next product and negatives shared by the batch), Adam, early stopping on
//! validation NDCG@10.
use super::net::{self, Net, Result as TResult};
use super::*;
use crate::rng::Rng;
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

/// What training reports as it goes.
pub enum Progress {
    /// `done` of the epoch's `of` batches.
    Batch { epoch: usize, done: usize, of: usize },
    /// An epoch's mean loss and its validation NDCG@10 (the negated loss without validation cases).
    Epoch { epoch: usize, loss: f64, valid: f64 },
}

/// Where training starts.
pub enum Start<'a> {
    /// From random weights, on every window.
    Fresh,
    /// From a served model, on the windows whose targets are new: `new_from[u]` is where shopper `u`'s new
    /// products start in their history (its length when nothing is new).
    Warm { from: &'a NeuralModel, new_from: &'a [usize] },
}

/// A warm start's learning rate, as a share of a fresh start's.
const WARM_LR_SHARE: f64 = 0.2;

/// One training window: `items[k + 1]` follows `items[k]`; targets before `first_target` are context only.
struct Window {
    items: Vec<u32>,
    first_target: usize,
}

fn windows(train: &Train, len: usize, per_user: usize, new_from: Option<&[usize]>) -> Vec<Window> {
    let mut out = vec![];
    for (u, h) in train.histories.iter().enumerate() {
        let seq = &h[..train.held[u].unwrap_or(h.len()).min(h.len())];
        let from = new_from.map_or(1, |n| n.get(u).copied().unwrap_or(seq.len()).max(1));
        let mut end = seq.len();
        let mut taken = 0;
        while end >= 2 && end > from && (per_user == 0 || taken < per_user) {
            taken += 1;
            let start = end.saturating_sub(len + 1);
            out.push(Window { items: seq[start..end].to_vec(), first_target: from.saturating_sub(start).max(1) });
            end = start + 1;
            if start == 0 {
                break;
            }
        }
    }
    out
}

impl NeuralModel {
    /// Fits a model on `train`; `valid` (user, item) cases drive early stopping; `threads` share each batch.
    pub fn train(
        data: &Dataset,
        train: &Train,
        valid: &[(u32, u32)],
        hyper: &SeqHyper,
        start: Start,
        threads: usize,
        mut progress: impl FnMut(Progress),
    ) -> Result<(Self, TrainReport), NeuralError> {
        let started = std::time::Instant::now();
        let (n, t, d) = (data.items.len(), if hyper.text { data.dim } else { 0 }, hyper.dim);
        let text = if t > 0 { data.text.clone() } else { vec![] };
        let dev = Device::Cpu;
        let mut rng = Rng(hyper.seed);
        let trained = train.trained_items(n);
        let new_from = match &start {
            Start::Fresh => None,
            Start::Warm { new_from, .. } => Some(*new_from),
        };
        let mut wins = windows(train, hyper.max_len, hyper.windows, new_from);
        if wins.is_empty() {
            return Err(NeuralError::Empty);
        }
        // negatives come from the products in the windows (for a warm start: only what the new events touch)
        let mut pool: Vec<u32> = wins.iter().flat_map(|w| w.items.iter().copied()).collect();
        pool.sort_unstable();
        pool.dedup();
        pool.retain(|&i| trained[i as usize]);
        let shapes = net::shapes(n, t, d, hyper.max_len, hyper.blocks);
        let vars = net::init(&shapes, &mut rng, &dev)?;
        if let Start::Warm { from, .. } = &start {
            warm_vars(&vars, from, data)?;
        }
        // a warm start fine-tunes: a smaller step, so a day of new events does not pull the model away from the rest
        let lr = if new_from.is_some() { hyper.lr * WARM_LR_SHARE } else { hyper.lr };
        let params = ParamsAdamW { lr, weight_decay: 0.0, ..Default::default() };
        let mut opt = AdamW::new(vars.clone(), params)?;
        let mut report = TrainReport {
            samples_per_epoch: wins.iter().map(|w| w.items.len() - w.first_target).sum(),
            ..Default::default()
        };
        let header = |report: &TrainReport| Header {
            format: 1,
            version: 0,
            hyper: hyper.clone(),
            report: report.clone(),
            text_dim: t,
            items: data.items.clone(),
            trained: trained.clone(),
            seen: data.users.iter().zip(&train.histories).map(|(u, h)| (u.clone(), h.len() as u32)).collect(),
        };
        let snapshot = |vars: &[Var]| -> TResult<Net> {
            Ok(Net::from_list(vars.iter().map(|v| v.as_tensor().copy()).collect::<TResult<Vec<_>>>()?))
        };
        let mut best: Option<(f64, Net)> = None;
        if new_from.is_some() && !valid.is_empty() {
            // the served weights are a candidate too: kept when no epoch on the new events does better
            let current = snapshot(&vars)?;
            let score =
                Self::from_parts(header(&report), current.clone(), text.clone())?.evaluate(train, valid, threads);
            report.best_valid_ndcg = score.ndcg;
            best = Some((score.ndcg, current));
        }
        for epoch in 0..hyper.epochs {
            let order = batches(&mut wins, hyper.batch.max(1), &mut rng);
            let mut loss_sum = 0.0;
            for (k, range) in order.iter().enumerate() {
                if hyper.lr_decay {
                    let done = (epoch * order.len() + k) as f64 / (hyper.epochs * order.len()).max(1) as f64;
                    opt.set_learning_rate(lr * (1.0 - 0.95 * done));
                }
                let net = Net::from_list(vars.iter().map(|v| v.as_tensor().clone()).collect());
                let (loss, grads) =
                    batch_grads(&net, data, &trained, &pool, &wins[range.clone()], hyper, threads, &mut rng)?;
                loss_sum += loss;
                opt.step(&grads)?;
                progress(Progress::Batch { epoch: epoch + 1, done: k + 1, of: order.len() });
            }
            let batches = order.len() as u32;
            report.epochs = epoch + 1;
            let mean_loss = loss_sum / f64::from(batches.max(1));
            let current = snapshot(&vars)?;
            let score = if valid.is_empty() {
                -mean_loss
            } else {
                let m = Self::from_parts(header(&report), current.clone(), text.clone())?;
                m.evaluate(train, valid, threads).ndcg
            };
            progress(Progress::Epoch { epoch: epoch + 1, loss: mean_loss, valid: score });
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, current));
                report.best_epoch = epoch + 1;
                report.best_valid_ndcg = score;
            } else if epoch + 1 - report.best_epoch >= hyper.patience {
                break;
            }
        }
        report.seconds = started.elapsed().as_secs_f64();
        let (_, net) = best.ok_or(NeuralError::Empty)?;
        let model = Self::from_parts(header(&report), net, text)?;
        Ok((model, report))
    }
}

/// Starts from a served model's weights: every shared layer, and the id vectors of the products it knew (matched
/// by id); new products' id vectors start at zero.
fn warm_vars(vars: &[Var], from: &NeuralModel, data: &Dataset) -> Result<(), NeuralError> {
    let old = from.net.list();
    if old.len() != vars.len() {
        return Err(NeuralError::Format("a warm start needs the same number of layers".into()));
    }
    for (k, (v, o)) in vars.iter().zip(&old).enumerate() {
        if k == 0 {
            let d = from.dim();
            let mut e = v.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            let oe = o.flatten_all()?.to_vec1::<f32>()?;
            for (i, id) in data.items.iter().enumerate() {
                match from.item(id) {
                    Some(j) => e[i * d..][..d].copy_from_slice(&oe[j as usize * d..][..d]),
                    // a product it did not know starts from its text alone (its id vector learns from there)
                    None => e[i * d..][..d].fill(0.0),
                }
            }
            v.set(&Tensor::from_vec(e, v.as_tensor().dims(), &Device::Cpu)?)?;
        } else if v.as_tensor().dims() == o.dims() {
            v.set(o)?;
        } else {
            return Err(NeuralError::Format("a warm start needs the same shapes".into()));
        }
    }
    Ok(())
}

/// An epoch's batches, as ranges of `wins` after shuffling: windows of similar length share a batch (sorted within
/// runs of 16 batches) so little of a batch is padding; the batches come in random order.
fn batches(wins: &mut [Window], size: usize, rng: &mut Rng) -> Vec<std::ops::Range<usize>> {
    rng.shuffle(wins);
    for run in wins.chunks_mut(size * 16) {
        run.sort_by_key(|w| w.items.len());
    }
    let mut order: Vec<_> = (0..wins.len()).step_by(size).map(|a| a..(a + size).min(wins.len())).collect();
    rng.shuffle(&mut order);
    order
}

/// The batch's mean loss and its gradients, the batch split over `threads` (each part's forward and backward pass
/// on its own thread against the same negatives; the parts' gradients summed).
#[allow(clippy::too_many_arguments)]
fn batch_grads(
    net: &Net,
    data: &Dataset,
    trained: &[bool],
    pool: &[u32],
    batch: &[Window],
    hyper: &SeqHyper,
    threads: usize,
    rng: &mut Rng,
) -> TResult<(f64, GradStore)> {
    // 0 negatives: the full softmax, over every product trained
    let negatives: Vec<u32> = match hyper.negatives {
        0 => pool.to_vec(),
        k => (0..k.min(pool.len())).map(|_| pool[rng.below(pool.len())]).collect(),
    };
    let targets: usize = batch.iter().map(|w| w.items.len() - w.first_target).sum();
    let part = batch.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<(&[Window], u64)> = batch.chunks(part).map(|c| (c, rng.next_u64())).collect();
    let run = |(windows, seed): &(&[Window], u64)| -> TResult<(f64, GradStore)> {
        let loss = batch_loss(net, data, trained, &negatives, windows, targets, hyper, &mut Rng(*seed))?;
        Ok((f64::from(loss.to_scalar::<f32>()?), loss.backward()?))
    };
    // rayon's threads live on from batch to batch, and so do their allocator heaps (a thread per batch started
    // each from fresh pages)
    let results: Vec<TResult<(f64, GradStore)>> = if parts.len() == 1 {
        vec![run(&parts[0])]
    } else {
        use rayon::prelude::*;
        parts.par_iter().map(run).collect()
    };
    let mut total: Option<(f64, GradStore)> = None;
    for r in results {
        let (loss, grads) = r?;
        total = Some(match total {
            None => (loss, grads),
            Some((sum, mut acc)) => {
                for v in net.list() {
                    if let Some(g) = grads.get(v) {
                        let g = match acc.get(v) {
                            Some(a) => (a + g)?,
                            None => g.clone(),
                        };
                        acc.insert(v, g);
                    }
                }
                (sum + loss, acc)
            }
        });
    }
    Ok(total.expect("a batch has at least one part"))
}

/// One part of a batch: its targets' summed cross-entropy against the batch's `negatives`, over `all_targets` (the
/// whole batch's count, so the parts add up to the batch's mean).
#[allow(clippy::too_many_arguments)]
fn batch_loss(
    net: &Net,
    data: &Dataset,
    trained: &[bool],
    negatives: &[u32],
    batch: &[Window],
    all_targets: usize,
    hyper: &SeqHyper,
    rng: &mut Rng,
) -> TResult<Tensor> {
    let dev = Device::Cpu;
    let (t, d) = (if hyper.text { data.dim } else { 0 }, hyper.dim);
    let l = batch.iter().map(|w| w.items.len() - 1).max().unwrap_or(1).max(1);
    // the batch's distinct products, each once: their vectors are computed once and gathered
    let mut local: HashMap<u32, u32> = HashMap::new();
    let mut uniq: Vec<u32> = vec![];
    let mut at = |i: u32| {
        *local.entry(i).or_insert_with(|| {
            uniq.push(i);
            uniq.len() as u32 - 1
        })
    };
    let b = batch.len();
    let (mut input, mut real, mut target, mut is_target) =
        (vec![0u32; b * l], vec![0f32; b * l], vec![0u32; b * l], vec![false; b * l]);
    for (bi, w) in batch.iter().enumerate() {
        let k = w.items.len() - 1;
        let pad = l - k;
        for p in 0..k {
            let o = bi * l + pad + p;
            input[o] = at(w.items[p]);
            real[o] = 1.0;
            target[o] = at(w.items[p + 1]);
            is_target[o] = p + 1 >= w.first_target;
        }
    }
    let neg_local: Vec<u32> = negatives.iter().map(|&i| at(i)).collect();
    let keep: Vec<f32> =
        uniq.iter().map(|&i| if trained[i as usize] && rng.unit() >= hyper.id_dropout { 1.0 } else { 0.0 }).collect();
    let text = if t > 0 {
        let rows: Vec<f32> = uniq.iter().flat_map(|&i| data.text_of(i).iter().copied()).collect();
        Some(Tensor::from_vec(rows, (uniq.len(), t), &dev)?)
    } else {
        None
    };
    let u = uniq.len();
    let q = net.items(&Tensor::from_vec(uniq, u, &dev)?, text.as_ref(), &Tensor::from_vec(keep, (u, 1), &dev)?)?;
    let x = q.index_select(&Tensor::from_vec(input, b * l, &dev)?, 0)?.reshape((b, l, d))?;
    let real = Tensor::from_vec(real, (b, l), &dev)?;
    let p = hyper.dropout;
    let mut drop = |x: &Tensor| -> TResult<Tensor> {
        if p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 / (1.0 - p);
        let m: Vec<f32> = (0..x.elem_count()).map(|_| if rng.unit() >= p { keep } else { 0.0 }).collect();
        x * Tensor::from_vec(m, x.dims(), &dev)?
    };
    let out = net.encode(&x, &real, &mut drop)?.reshape((b * l, d))?;
    // only the positions that are targets reach the softmax (not padding, not a warm start's context)
    let rows: Vec<u32> = (0..(b * l) as u32).filter(|&o| is_target[o as usize]).collect();
    let m = rows.len();
    if m == 0 {
        return Tensor::zeros((), candle_core::DType::F32, &dev);
    }
    let targets: Vec<u32> = rows.iter().map(|&o| target[o as usize]).collect();
    let out = out.index_select(&Tensor::from_vec(rows, m, &dev)?, 0)?;
    let qp = q.index_select(&Tensor::from_vec(targets, m, &dev)?, 0)?;
    let pos = (&out * &qp)?.sum_keepdim(1)?;
    let qn = q.index_select(&Tensor::from_vec(neg_local, negatives.len(), &dev)?, 0)?;
    // the full softmax has the target among its products already
    let all = out.matmul(&qn.t()?)?;
    let logits = if hyper.negatives == 0 { all } else { Tensor::cat(&[&pos, &all], 1)? };
    // -log softmax of the target = logsumexp - its logit (the max taken out without a gradient: it cancels)
    let top = logits.max_keepdim(1)?.detach();
    let lse = (logits.broadcast_sub(&top)?.exp()?.sum_keepdim(1)?.log()? + top)?;
    (lse - pos)?.sum_all()? / all_targets.max(1) as f64
}
