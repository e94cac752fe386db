//! `aisle bench intent`: accuracy on phrasing held out from training (whole linguistic-flag groups of the
//! Bitext set and of Aisle's shopping intents), beside references trained and tested on the same split: a linear
//! head on character n-grams only, on embeddings only, and on both. Then the latency of one classification.
use super::percentile;
use crate::intent::{data, featurize, Features, IntentModel, TrainConfig};
use crate::llm::Generate;
use std::path::Path;
use std::time::Instant;

/// `seeds` > 1 also trains the served classifier with training seeds 2..=`seeds` and prints their spread.
/// `lang` also measures messages in that language (see [`super::lang`]).
pub async fn intent(
    cfg: &crate::config::Config,
    root: &Path,
    fallback_cases: usize,
    seeds: u64,
    lang: Option<&str>,
) -> anyhow::Result<()> {
    let cfg_llm = cfg.llm.clone();
    let (cfg2, root2, lang) = (cfg.clone(), root.to_path_buf(), lang.map(str::to_string));
    let embedder =
        crate::app::start_embedder(cfg).await?.ok_or_else(|| anyhow::anyhow!("the embedding model is needed"))?;
    let sets = data::default_sets(root);
    let langs = crate::lang::Languages::load(&cfg.prompts_dir, &cfg.policies_dir, &cfg.chat.dictionary)?;
    let currency = cfg.chat.currency.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut all = vec![];
        for s in &sets {
            all.extend(data::load(s)?);
        }
        // utterances in other languages train the head for read messages only, as the chat reads them
        let (all, read_ones) = data::split_by_language(all, &|t| langs.into_english(t, &currency));
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
        // the served training set: every utterance, then its augmented examples (the noisy copies first, then the
        // nonsense labelled "other"); a reference trains on the noisy copies without the nonsense
        let t = Instant::now();
        let extra = crate::intent::augmented(&train);
        let xextra = featurize(&embedder, &extra.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>())?;
        let extra_s = t.elapsed().as_secs_f64();
        let yextra = extra.iter().map(|(_, i)| labels.binary_search(i).unwrap_or(0));
        let xserved: Vec<Features> = xtr.iter().chain(&xextra).cloned().collect();
        let yserved: Vec<usize> = ytr.iter().copied().chain(yextra).collect();
        let noisy = 2 * train.len();
        let (xnoisy, ynoisy) = (xserved[..noisy].to_vec(), yserved[..noisy].to_vec());
        // nonsense none of them saw (another seed): how often would the chat act on it as a service request?
        let probe_texts = crate::intent::nonsense(500, &mut crate::rng::Rng(1001));
        let probe = featurize(&embedder, &probe_texts)?;
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
        println!("{:<40} {:>8} {:>8} {:>10}", "model", "accuracy", "train s", "nonsense");
        // held-out messages a model gets right, given their features
        let right_on = |m: &IntentModel, xs: &[Features]| {
            xs.iter().zip(&test).filter(|(x, u)| m.predict(x).intent == u.intent).count()
        };
        let mut full = None;
        let served = TrainConfig::default();
        let h = served.hidden;
        let (plain_name, noisy_name) = (format!("hidden {h} + n-grams (reference)"), format!("hidden {h} + noisy copies (ref.)"));
        let served_name = format!("aisle: hidden {h} + n-grams, augmented");
        // (training set, its labels, seconds spent embedding its extra texts)
        let plain = (&xtr, &ytr, 0.0);
        for (name, dense, sparse, hidden, (x, y, extra_s)) in [
            ("n-grams only (reference)", false, true, 0, plain),
            ("embeddings only, linear (reference)", true, false, 0, plain),
            ("embeddings + n-grams, linear (ref.)", true, true, 0, plain),
            (plain_name.as_str(), true, true, served.hidden, plain),
            (noisy_name.as_str(), true, true, served.hidden, (&xnoisy, &ynoisy, extra_s)),
            (served_name.as_str(), true, true, served.hidden, (&xserved, &yserved, extra_s)),
        ] {
            let t = Instant::now();
            let dim = if dense { embedder.dim } else { 0 };
            let cfg = TrainConfig { hidden, ..served };
            let m = IntentModel::train(labels.clone(), dim, &embedder.model_id, &strip(x, dense, sparse), y, cfg);
            let secs = t.elapsed().as_secs_f64() + extra_s;
            let xs = strip(&xte, dense, sparse);
            let correct = right_on(&m, &xs);
            // the share of unseen nonsense the chat's router would send to a service answer or a person
            let acted = strip(&probe, dense, sparse)
                .iter()
                .zip(&probe_texts)
                .filter(|(x, t)| crate::chat::route(t, Some(&m.predict(x))).is_service())
                .count();
            println!("{name:<40} {:>8.3} {:>8.1} {:>10.3}", correct as f64 / test.len() as f64, secs,
                acted as f64 / probe.len() as f64);
            if std::ptr::eq(x, &xserved) {
                // by held-out flag (an utterance with several flags counts under each)
                let mut by_flag = vec![];
                for f in data::HELD_OUT_FLAGS {
                    let of: Vec<usize> = (0..test.len()).filter(|&i| test[i].flags.contains(*f)).collect();
                    let ok = of.iter().filter(|&&i| m.predict(&xs[i]).intent == test[i].intent).count();
                    by_flag.push(format!("{f} {:.3} ({})", ok as f64 / of.len().max(1) as f64, of.len()));
                }
                println!("  by flag: {}", by_flag.join(", "));
                full = Some((m, correct as f64 / test.len() as f64));
            }
        }
        let (m, served_accuracy) = full.expect("the full model was trained");
        // the head for read messages: the served examples plus the read utterances and a noisy copy of each
        let read_head = match lang.is_some() && !read_ones.is_empty() {
            false => None,
            true => {
                let extra = crate::intent::read_examples(&read_ones);
                let mut x = xserved.clone();
                x.extend(featurize(&embedder, &extra.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>())?);
                let mut y = yserved.clone();
                y.extend(extra.iter().map(|(_, i)| labels.binary_search(i).unwrap_or(0)));
                let h = IntentModel::train(labels.clone(), embedder.dim, &embedder.model_id, &x, &y, served);
                println!("{:<40} {:>8.3}   (English held-out, for comparison: not what reads English)",
                    "head for read messages", right_on(&h, &xte) as f64 / test.len() as f64);
                Some(h)
            }
        };
        if seeds > 1 {
            // the same training set and settings, other seeds: how much of a figure is the training run's luck
            let mut accs = vec![served_accuracy];
            for seed in 2..=seeds {
                let other = IntentModel::train(labels.clone(), embedder.dim, &embedder.model_id, &xserved, &yserved,
                    TrainConfig { seed, ..served });
                accs.push(right_on(&other, &xte) as f64 / test.len() as f64);
            }
            let mean = accs.iter().sum::<f64>() / accs.len() as f64;
            let (lo, hi) = accs.iter().fold((f64::MAX, f64::MIN), |(lo, hi), a| (lo.min(*a), hi.max(*a)));
            let each: Vec<String> = accs.iter().map(|a| format!("{a:.3}")).collect();
            println!("served recipe over training seeds 1..={seeds}: {} (mean {mean:.3}, min {lo:.3}, max {hi:.3}; seed 1 is served)",
                each.join(", "));
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
        match (fallback_cases > 0).then(|| crate::llm::Engine::start(&cfg_llm)) {
            None => println!("the language model's choice on unsure messages: not asked (--queries 0)"),
            Some(Err(e)) => println!("language model not loaded ({e}): the fallback is not measured"),
            Some(Ok(engine)) => {
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
                    let right = right_on(&m, &xte);
                    let with_model = (right - head + model) as f64 / test.len() as f64;
                    println!("held-out accuracy with the model choosing on every unsure message: {with_model:.3}");
                }
            }
        }
        if let (Some(code), Some(head)) = (&lang, &read_head) {
            super::lang::other_language(&cfg2, &root2, code, &embedder, (head, &m), served_accuracy)?;
        }
        // 30 messages first, not timed: a serving process is warm (threads, caches, the model's pages)
        for u in test.iter().skip(300).take(30) {
            embedder.embed_blocking(vec![u.text.clone()], crate::embed::Role::Query)?;
        }
        let mut ms = vec![];
        for u in test.iter().take(300) {
            embedder.clear_cache(); // each message is new to the process
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
