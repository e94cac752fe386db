//! `aisle bench intent`: accuracy on phrasing held out from training (whole linguistic-flag groups of the
//! Bitext set and of Aisle's shopping intents), beside references trained and tested on the same split: a linear
//! head on character n-grams only, on embeddings only, and on both. Then the latency of one classification.
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
        // an experiment's training set: every utterance and a copy with typing noise
        let t = Instant::now();
        let mut xnoisy = featurize(&embedder, &crate::intent::noisy_copies(&train))?;
        let noisy_embed_s = t.elapsed().as_secs_f64();
        xnoisy.splice(0..0, xtr.iter().cloned());
        let ynoisy = [ytr.clone(), ytr.clone()].concat();
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
        println!("{:<40} {:>8} {:>8}", "model", "accuracy", "train s");
        let mut full = None;
        let served = TrainConfig::default();
        let served_name = format!("aisle: hidden {} + n-grams", served.hidden);
        for (name, dense, sparse, hidden, noisy) in [
            ("n-grams only (reference)", false, true, 0, false),
            ("embeddings only, linear (reference)", true, false, 0, false),
            ("embeddings + n-grams, linear (ref.)", true, true, 0, false),
            (served_name.as_str(), true, true, served.hidden, false),
            ("experiment: + noisy copies (not served)", true, true, served.hidden, true),
        ] {
            let t = Instant::now();
            let dim = if dense { embedder.dim } else { 0 };
            let cfg = TrainConfig { hidden, ..served };
            let (x, y) = if noisy { (&xnoisy, &ynoisy) } else { (&xtr, &ytr) };
            let m = IntentModel::train(labels.clone(), dim, &embedder.model_id, &strip(x, dense, sparse), y, cfg);
            let secs = t.elapsed().as_secs_f64() + if noisy { noisy_embed_s } else { 0.0 };
            let xs = strip(&xte, dense, sparse);
            let correct = xs.iter().zip(&test).filter(|(x, u)| m.predict(x).intent == u.intent).count();
            println!("{name:<40} {:>8.3} {:>8.1}", correct as f64 / test.len() as f64, secs);
            if hidden == served.hidden && !noisy {
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
                if sample.len() == unsure.len() {
                    // every unsure message was asked: the whole held-out set with the model's choices in place
                    let right = xte.iter().zip(&test).filter(|(x, u)| m.predict(x).intent == u.intent).count();
                    let with_model = (right - head + model) as f64 / test.len() as f64;
                    println!("held-out accuracy with the model choosing on every unsure message: {with_model:.3}");
                }
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
