//! Fitting the sequential model: windows of each shopper's sequence, every position predicting the next product
//! (sampled softmax over the true next product and negatives shared by the batch), Adam, early stopping on
//! validation NDCG@10.
use super::net::{self, Net, Result as TResult};
use super::*;
use crate::rng::Rng;
use candle_core::{Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

/// Where training starts.
pub enum Start<'a> {
    /// From random weights, on every window.
    Fresh,
    /// From a served model, on the windows whose targets are new: `new_from[u]` is where shopper `u`'s new
    /// products start in their history (its length when nothing is new).
    Warm { from: &'a NeuralModel, new_from: &'a [usize] },
}

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
    /// Fits a model on `train`; `valid` (user, item) cases drive early stopping. `progress(epoch, loss, valid)`.
    pub fn train(
        data: &Dataset,
        train: &Train,
        valid: &[(u32, u32)],
        hyper: &SeqHyper,
        start: Start,
        threads: usize,
        mut progress: impl FnMut(usize, f64, f64),
    ) -> Result<(Self, TrainReport), NeuralError> {
        let started = std::time::Instant::now();
        let (n, t, d) = (data.items.len(), data.dim, hyper.dim);
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
        let params = ParamsAdamW { lr: hyper.lr, weight_decay: 0.0, ..Default::default() };
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
        };
        let snapshot = |vars: &[Var]| -> TResult<Net> {
            Ok(Net::from_list(vars.iter().map(|v| v.as_tensor().copy()).collect::<TResult<Vec<_>>>()?))
        };
        let mut best: Option<(f64, Net)> = None;
        for epoch in 0..hyper.epochs {
            rng.shuffle(&mut wins);
            let mut loss_sum = 0.0;
            let mut batches = 0;
            for batch in wins.chunks(hyper.batch.max(1)) {
                let net = Net::from_list(vars.iter().map(|v| v.as_tensor().clone()).collect());
                let loss = batch_loss(&net, data, &trained, &pool, batch, hyper, &mut rng)?;
                loss_sum += f64::from(loss.to_scalar::<f32>()?);
                batches += 1;
                opt.backward_step(&loss)?;
            }
            report.epochs = epoch + 1;
            let mean_loss = loss_sum / f64::from(batches.max(1));
            let current = snapshot(&vars)?;
            let score = if valid.is_empty() {
                -mean_loss
            } else {
                let m = Self::from_parts(header(&report), current.clone(), data.text.clone())?;
                m.evaluate(train, valid, threads).ndcg
            };
            progress(epoch + 1, mean_loss, score);
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
        let model = Self::from_parts(header(&report), net, data.text.clone())?;
        Ok((model, report))
    }
}

/// Starts from a served model's weights: every shared layer, and the id vectors of the products it knew (matched
/// by id); new products keep their fresh vectors.
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
                if let Some(j) = from.item(id) {
                    e[i * d..][..d].copy_from_slice(&oe[j as usize * d..][..d]);
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

/// The batch's mean cross-entropy of each target against the batch's negatives.
fn batch_loss(
    net: &Net,
    data: &Dataset,
    trained: &[bool],
    pool: &[u32],
    batch: &[Window],
    hyper: &SeqHyper,
    rng: &mut Rng,
) -> TResult<Tensor> {
    let dev = Device::Cpu;
    let (t, d) = (data.dim, hyper.dim);
    let l = batch.iter().map(|w| w.items.len() - 1).max().unwrap_or(1).max(1);
    let negatives: Vec<u32> = (0..hyper.negatives.min(pool.len())).map(|_| pool[rng.below(pool.len())]).collect();
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
    let (mut input, mut real, mut target, mut counts) =
        (vec![0u32; b * l], vec![0f32; b * l], vec![0u32; b * l], vec![0f32; b * l]);
    for (bi, w) in batch.iter().enumerate() {
        let k = w.items.len() - 1;
        let pad = l - k;
        for p in 0..k {
            let o = bi * l + pad + p;
            input[o] = at(w.items[p]);
            real[o] = 1.0;
            target[o] = at(w.items[p + 1]);
            counts[o] = if p + 1 >= w.first_target { 1.0 } else { 0.0 };
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
    let qp = q.index_select(&Tensor::from_vec(target, b * l, &dev)?, 0)?;
    let pos = (&out * &qp)?.sum_keepdim(1)?;
    let qn = q.index_select(&Tensor::from_vec(neg_local, negatives.len(), &dev)?, 0)?;
    let neg = out.matmul(&qn.t()?)?;
    let logits = Tensor::cat(&[&pos, &neg], 1)?;
    let nll = candle_nn::ops::log_softmax(&logits, D::Minus1)?.narrow(1, 0, 1)?.neg()?;
    let n_targets: f32 = counts.iter().sum();
    let counts = Tensor::from_vec(counts, (b * l, 1), &dev)?;
    (nll * counts)?.sum_all()? / f64::from(n_targets.max(1.0))
}
