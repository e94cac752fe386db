//! `aisle bench intent`: accuracy on phrasing held out from training (whole linguistic-flag groups of the
//! Bitext set and of Aisle's shopping intents), beside two references trained and tested on the same split:
//! the same head on character n-grams only, and on embeddings only. Then the latency of one classification.
use super::percentile;
use crate::intent::{data, featurize, Features, IntentModel, TrainConfig};
use crate::llm::Generate;
use std::path::Path;
use std::time::Instant;

pub async fn intent(cfg: &crate::config::Config, root: &Path, fallback_cases: usize) -> anyhow::Result<()> {
    let cfg_llm = cfg.llm.clone();
    let embedder =
        crate::app::start_embedder(cfg).await?.ok_or_else(|| anyhow::anyhow!("the embedding model is needed"))?;
    let sets = data::default_sets(root);
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut all = vec![];
        for s in &sets {
            all.extend(data::load(s)?);
        }
        let (test, train): (Vec<_>, Vec<_>) = all.into_iter().partition(data::held_out);
        let mut labels: Vec<String> = train.iter().map(|u| u.intent.clone()).collect();
        labels.sort();
        labels.dedup();
        let texts = |us: &[data::Utterance]| us.iter().map(|u| u.text.clone()).collect::<Vec<_>>();
        let t = Instant::now();
        let xtr = featurize(&embedder, &texts(&train))?;
        let xte = featurize(&embedder, &texts(&test))?;
        let embed_s = t.elapsed().as_secs_f64();
        let ytr: Vec<usize> = train.iter().map(|u| labels.binary_search(&u.intent).unwrap_or(0)).collect();
        let strip = |xs: &[Features], dense: bool, sparse: bool| -> Vec<Features> {
            xs.iter()
                .map(|x| Features {
                    dense: if dense { x.dense.clone() } else { vec![] },
                    sparse: if sparse { x.sparse.clone() } else { vec![] },
                })
                .collect()
        };
        println!("aisle bench intent: train {} utterances, test {} held out (flags {:?}), {} intents; embedding all took {embed_s:.1} s",
            train.len(), test.len(), data::HELD_OUT_FLAGS, labels.len());
        println!("{:<34} {:>10} {:>10}", "model", "accuracy", "train s");
        let mut full = None;
        for (name, dense, sparse) in [("n-grams only (reference)", false, true), ("embeddings only (reference)", true, false), ("aisle: embeddings + n-grams", true, true)] {
            let t = Instant::now();
            let dim = if dense { embedder.dim } else { 0 };
            let m = IntentModel::train(labels.clone(), dim, &embedder.model_id, &strip(&xtr, dense, sparse), &ytr, TrainConfig::default());
            let secs = t.elapsed().as_secs_f64();
            let xs = strip(&xte, dense, sparse);
            let correct = xs.iter().zip(&test).filter(|(x, u)| m.predict(x).intent == u.intent).count();
            println!("{name:<34} {:>10.3} {:>10.1}", correct as f64 / test.len() as f64, secs);
            if dense && sparse {
                // by held-out flag (an utterance with several flags counts under each)
                let mut by_flag = vec![];
                for f in data::HELD_OUT_FLAGS {
                    let of: Vec<usize> = (0..test.len()).filter(|&i| test[i].flags.contains(*f)).collect();
                    let ok = of.iter().filter(|&&i| m.predict(&xs[i]).intent == test[i].intent).count();
                    by_flag.push(format!("{f} {:.3} ({})", ok as f64 / of.len().max(1) as f64, of.len()));
                }
                println!("  by flag: {}", by_flag.join(", "));
                full = Some(m);
            }
        }
        let m = full.expect("the full model was trained");
        // experiment: a one-hidden-layer network over the embedding (default-style settings, not tuned)
        {
            let t = Instant::now();
            let mlp = Mlp::train(&xtr, &ytr, labels.len(), 256, 30);
            let ok = xte.iter().zip(&test).filter(|(x, u)| labels[mlp.predict(&x.dense)] == u.intent).count();
            println!("{:<34} {:>10.3} {:>10.1}", "experiment: MLP 256 on embeddings", ok as f64 / test.len() as f64, t.elapsed().as_secs_f64());
        }
        // the unsure cases: the classifier's guess beside the language model choosing among its three best
        let unsure: Vec<(usize, crate::intent::Prediction)> = xte
            .iter()
            .enumerate()
            .map(|(i, x)| (i, m.predict(x)))
            .filter(|(_, p)| p.confidence < crate::intent::llm::ASK_BELOW)
            .collect();
        println!("{} of {} held-out messages ({:.1}%) are below confidence {}", unsure.len(), test.len(),
            100.0 * unsure.len() as f64 / test.len().max(1) as f64, crate::intent::llm::ASK_BELOW);
        match crate::llm::Engine::start(&cfg_llm) {
            Err(e) => println!("language model not loaded ({e}): the fallback is not measured"),
            Ok(engine) => {
                let sample: Vec<_> = unsure.iter().take(fallback_cases).collect();
                let (mut head, mut in_top, mut model, mut ms) = (0, 0, 0, vec![]);
                let rt = tokio::runtime::Handle::current();
                for (i, p) in &sample {
                    let truth = &test[*i].intent;
                    head += usize::from(p.intent == *truth);
                    let cands: Vec<String> = p.top.iter().map(|(l, _)| l.clone()).collect();
                    in_top += usize::from(cands.contains(truth));
                    let t = Instant::now();
                    let chosen = rt.block_on(crate::intent::llm::choose(&engine, &test[*i].text, &cands))?;
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                    model += usize::from(chosen.as_deref() == Some(truth.as_str()));
                }
                let n = sample.len().max(1) as f64;
                println!("on {} unsure held-out messages ({}):", sample.len(), engine.info().description);
                println!("{:<44} {:>10.3}", "classifier's guess (reference)", head as f64 / n);
                println!("{:<44} {:>10.3}", "model choosing among the classifier's top 3", model as f64 / n);
                println!("{:<44} {:>10.3}", "right intent in the top 3 (upper bound)", in_top as f64 / n);
                println!("model choice latency: p50 {:.0} ms, p99 {:.0} ms", percentile(&mut ms.clone(), 0.5), percentile(&mut ms, 0.99));
            }
        }
        let mut ms = vec![];
        for u in test.iter().take(300) {
            let t = Instant::now();
            let dense = embedder.embed_blocking(vec![u.text.clone()], crate::embed::Role::Query)?.pop().unwrap_or_default();
            m.predict(&Features { dense, sparse: crate::intent::ngrams(&u.text) });
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("latency of one classification (embedding included), {} messages: p50 {:.2} ms, p99 {:.2} ms",
            ms.len(), percentile(&mut ms.clone(), 0.5), percentile(&mut ms, 0.99));
        Ok(())
    })
    .await?
}

/// One hidden ReLU layer over the embedding, softmax output, Adam (an experiment beside the linear head).
struct Mlp {
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    input: usize,
    hidden: usize,
    out: usize,
}

impl Mlp {
    fn hidden_of(&self, x: &[f32]) -> Vec<f32> {
        (0..self.hidden)
            .map(|j| {
                let row = &self.w1[j * self.input..(j + 1) * self.input];
                (row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>() + self.b1[j]).max(0.0)
            })
            .collect()
    }

    fn logits(&self, h: &[f32]) -> Vec<f32> {
        (0..self.out)
            .map(|k| {
                self.w2[k * self.hidden..(k + 1) * self.hidden].iter().zip(h).map(|(w, v)| w * v).sum::<f32>()
                    + self.b2[k]
            })
            .collect()
    }

    fn predict(&self, x: &[f32]) -> usize {
        let z = self.logits(&self.hidden_of(x));
        (0..z.len()).max_by(|a, b| z[*a].total_cmp(&z[*b])).unwrap_or(0)
    }

    fn train(xs: &[Features], ys: &[usize], out: usize, hidden: usize, epochs: usize) -> Self {
        let input = xs.first().map_or(0, |x| x.dense.len());
        let mut rng = crate::rng::Rng(5);
        let (s1, s2) = ((6.0 / (input + hidden) as f32).sqrt(), (6.0 / (hidden + out) as f32).sqrt());
        let mut m = Mlp {
            w1: (0..hidden * input).map(|_| (rng.unit() * 2.0 - 1.0) * s1).collect(),
            b1: vec![0.0; hidden],
            w2: (0..out * hidden).map(|_| (rng.unit() * 2.0 - 1.0) * s2).collect(),
            b2: vec![0.0; out],
            input,
            hidden,
            out,
        };
        let sizes = [m.w1.len(), m.b1.len(), m.w2.len(), m.b2.len()];
        let mut mom: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let mut vel: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let mut grad: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let (lr, b1, b2, eps, batch) = (1e-3f32, 0.9f32, 0.999f32, 1e-8f32, 32);
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut step = 0i32;
        for _ in 0..epochs {
            rng.shuffle(&mut order);
            for chunk in order.chunks(batch) {
                grad.iter_mut().for_each(|g| g.iter_mut().for_each(|v| *v = 0.0));
                for &n in chunk {
                    let x = &xs[n].dense;
                    let h = m.hidden_of(x);
                    let z = m.logits(&h);
                    let dz: Vec<f32> = crate::intent::softmax(&z)
                        .iter()
                        .enumerate()
                        .map(|(k, p)| (p - f32::from(u8::from(k == ys[n]))) / chunk.len() as f32)
                        .collect();
                    let mut dh = vec![0.0f32; hidden];
                    for k in 0..out {
                        for j in 0..hidden {
                            grad[2][k * hidden + j] += dz[k] * h[j];
                            dh[j] += dz[k] * m.w2[k * hidden + j];
                        }
                        grad[3][k] += dz[k];
                    }
                    for j in 0..hidden {
                        if h[j] <= 0.0 {
                            continue;
                        }
                        let row = &mut grad[0][j * input..(j + 1) * input];
                        for (g, v) in row.iter_mut().zip(x) {
                            *g += dh[j] * v;
                        }
                        grad[1][j] += dh[j];
                    }
                }
                step += 1;
                let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
                for (params, ((g, mo), ve)) in [&mut m.w1, &mut m.b1, &mut m.w2, &mut m.b2]
                    .into_iter()
                    .zip(grad.iter().zip(mom.iter_mut()).zip(vel.iter_mut()))
                {
                    for i in 0..params.len() {
                        mo[i] = b1 * mo[i] + (1.0 - b1) * g[i];
                        ve[i] = b2 * ve[i] + (1.0 - b2) * g[i] * g[i];
                        params[i] -= lr * (mo[i] / c1) / ((ve[i] / c2).sqrt() + eps);
                    }
                }
            }
        }
        m
    }
}
