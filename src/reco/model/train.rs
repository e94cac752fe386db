//! Fitting a model: epochs of shuffled batches, Adam, early stopping on validation NDCG@10.
use super::*;

impl Model {
    /// Fits a model on `train` (validation items, when some users have one, drive early stopping).
    pub fn train(
        data: &Dataset,
        train: &Train,
        valid: &[(u32, u32)],
        hyper: &Hyper,
        mut progress: impl FnMut(usize, f64, f64),
    ) -> Result<(Self, TrainReport), ModelError> {
        let started = std::time::Instant::now();
        let (n, m, d, t) = (data.items.len(), data.users.len(), hyper.dim, data.dim);
        let trained = train.trained_items(n);
        let trainable: Vec<u32> = (0..n as u32).filter(|&i| trained[i as usize]).collect();
        if trainable.is_empty() {
            return Err(ModelError::Empty);
        }
        let mut rng = Rng(hyper.seed);
        let init = |rng: &mut Rng, len: usize, sd: f32| (0..len).map(|_| rng.normal(sd)).collect::<Vec<f32>>();
        let mut p = Params {
            e: init(&mut rng, n * d, 0.01),
            a: init(&mut rng, n * d, 0.01),
            u: vec![0.0; m * d],
            b: vec![0.0; n],
            w: init(&mut rng, d * t, 0.01),
            v: init(&mut rng, d * t, 0.01),
            b_cold: 0.0,
        };
        let mut mom = [
            Moments::new(n * d),
            Moments::new(n * d),
            Moments::new(m * d),
            Moments::new(n),
            Moments::new(d * t),
            Moments::new(d * t),
            Moments::new(1),
        ];
        let sorted: Vec<Vec<u32>> = train
            .histories
            .iter()
            .map(|h| {
                let mut s = h.clone();
                s.sort_unstable();
                s
            })
            .collect();
        let mut samples: Vec<(u32, u32)> = vec![];
        for (u, h) in train.histories.iter().enumerate() {
            for k in 0..h.len() {
                if train.held[u] != Some(k) {
                    samples.push((u as u32, k as u32));
                }
            }
        }
        let mut report = TrainReport { samples_per_epoch: samples.len(), ..Default::default() };
        let mut best: Option<(f64, Params)> = None;
        let mut step = 0i32;
        let threads = hyper.threads.max(1);
        for epoch in 0..hyper.epochs {
            rng.shuffle(&mut samples);
            let mut loss = 0.0;
            for (bi, batch) in samples.chunks(hyper.batch).enumerate() {
                let view = View { p: &p, d, t, text: &data.text, trained: &trained };
                let seed = hyper.seed ^ ((epoch as u64) << 32) ^ ((bi as u64) << 8);
                let g = parallel_grads(&view, train, &sorted, &trainable, batch, hyper, seed, threads);
                loss += g.loss;
                step += 1;
                adam_step(&mut p, &mut mom, &g, step, batch.len(), hyper, d);
            }
            report.epochs = epoch + 1;
            let model = Self::assemble(data, &trained, &p, hyper, report.clone());
            let score = if valid.is_empty() {
                -(loss / samples.len().max(1) as f64)
            } else {
                model.evaluate(data, train, valid, threads).ndcg
            };
            progress(epoch + 1, loss / samples.len().max(1) as f64, score);
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, p.clone()));
                report.best_epoch = epoch + 1;
                report.best_valid_ndcg = score;
            } else if epoch + 1 - report.best_epoch >= hyper.patience {
                break;
            }
        }
        report.seconds = started.elapsed().as_secs_f64();
        let (_, p) = best.ok_or(ModelError::Empty)?;
        Ok((Self::assemble(data, &trained, &p, hyper, report.clone()), report))
    }
}

/// One batch's gradients, its samples split across `threads` (each with its own negative-sampling seed), merged.
#[allow(clippy::too_many_arguments)]
fn parallel_grads(
    view: &View,
    train: &Train,
    sorted: &[Vec<u32>],
    trainable: &[u32],
    batch: &[(u32, u32)],
    hyper: &Hyper,
    seed: u64,
    threads: usize,
) -> Grads {
    let per = batch.len().div_ceil(threads);
    let seeds: Vec<u64> = (0..threads).map(|k| seed ^ k as u64).collect();
    let mut parts: Vec<Grads> = std::thread::scope(|s| {
        let handles: Vec<_> = batch
            .chunks(per.max(1))
            .zip(&seeds)
            .map(|(chunk, &seed)| s.spawn(move || batch_grads(view, train, sorted, trainable, chunk, hyper, seed)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut g = parts.pop().unwrap_or_default();
    for o in parts {
        g.merge(o);
    }
    g
}

/// Adam on the rows the batch touched (lazy), with bias correction at `step`; gradients are batch means.
fn adam_step(p: &mut Params, mom: &mut [Moments; 7], g: &Grads, step: i32, batch: usize, hyper: &Hyper, d: usize) {
    let lr = hyper.lr * (1.0 - 0.999f32.powi(step)).sqrt() / (1.0 - 0.9f32.powi(step));
    let scale = 1.0 / batch as f32;
    let rows = |p: &mut Vec<f32>, mom: &mut Moments, map: &HashMap<u32, Vec<f32>>| {
        for (&r, gr) in map {
            let gs: Vec<f32> = gr.iter().map(|x| x * scale).collect();
            mom.step(p, r as usize * d, &gs, lr, hyper.reg);
        }
    };
    let [me, ma, mu, mb, mw, mv, mc] = mom;
    rows(&mut p.e, me, &g.e);
    rows(&mut p.a, ma, &g.a);
    rows(&mut p.u, mu, &g.u);
    for (&r, &gb) in &g.b {
        mb.step(&mut p.b, r as usize, &[gb * scale], lr, 0.0);
    }
    if !g.w.is_empty() {
        let gw: Vec<f32> = g.w.iter().map(|x| x * scale).collect();
        mw.step(&mut p.w, 0, &gw, lr, hyper.reg);
        let gv: Vec<f32> = g.v.iter().map(|x| x * scale).collect();
        mv.step(&mut p.v, 0, &gv, lr, hyper.reg);
    }
    let mut bc = [p.b_cold];
    mc.step(&mut bc, 0, &[g.b_cold * scale], lr, 0.0);
    p.b_cold = bc[0];
}
