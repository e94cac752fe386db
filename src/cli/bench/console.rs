//! `aisle bench console`: the support console's costs at a shop's scale. Builds N chat sessions from real text
//! (Bitext customer utterances as the shopper's turns, Online Retail product names in the assistant's turns),
//! then measures loading every session (what each console page does), building the transcript index, indexed
//! search beside a linear scan over the same transcripts (the reference), saving one session, and the argon2
//! cost of a staff sign-in.
use super::{percentile, Rng, TempDir};
use crate::accounts::{Accounts, Role};
use crate::session::{Session, Sessions};
use crate::store::Store;
use crate::transcripts::TranscriptIndex;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn utterances(path: &Path) -> anyhow::Result<Vec<String>> {
    let mut rdr = csv::Reader::from_path(path)?;
    let headers = rdr.headers()?.clone();
    let col = headers.iter().position(|h| h == "utterance").ok_or_else(|| anyhow::anyhow!("no utterance column"))?;
    Ok(rdr.records().filter_map(Result::ok).map(|r| r[col].to_string()).collect())
}

fn product_names(path: &Path, most: usize) -> anyhow::Result<Vec<String>> {
    let mut rdr = csv::Reader::from_reader(flate2::read::GzDecoder::new(std::fs::File::open(path)?));
    let mut seen = std::collections::HashSet::new();
    let mut out = vec![];
    for r in rdr.records().filter_map(Result::ok) {
        let name = r[2].trim().to_string();
        if !name.is_empty() && seen.insert(name.clone()) {
            out.push(name);
            if out.len() >= most {
                break;
            }
        }
    }
    Ok(out)
}

fn words(s: &Session) -> Vec<String> {
    s.turns
        .iter()
        .filter(|t| t.role == crate::session::Role::Shopper)
        .flat_map(|t| t.text.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase).collect::<Vec<_>>())
        .filter(|w| w.len() >= 4)
        .collect()
}

fn lower_text(s: &Session) -> String {
    s.turns.iter().map(|t| t.text.to_lowercase()).collect::<Vec<_>>().join("\n")
}

pub fn console(n: usize, queries: usize, bitext: &Path, retail: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let said = utterances(bitext)?;
    let names = product_names(retail, 3000)?;
    anyhow::ensure!(!said.is_empty() && !names.is_empty(), "no text to build sessions from");
    let dir = TempDir::new("console")?;
    let store = Store::open(&dir.0)?;
    let mut rng = Rng(7);
    let started = Instant::now();
    for _ in 0..n {
        let mut s = Session::start((rng.below(3) == 0).then(|| format!("{}", 12_000 + rng.below(6000))));
        for _ in 0..1 + rng.below(4) {
            s.shopper_said(&said[rng.below(said.len())]);
            let (a, b) = (&names[rng.below(names.len())], &names[rng.below(names.len())]);
            s.staff_said("bench", &format!("You might like the {a} or the {b}."));
        }
        store.put_session(s.id.as_str(), &s)?;
    }
    store.flush()?;
    let made = started.elapsed().as_secs_f64();
    let sessions = Sessions::new(store.clone());
    let mut loads = vec![];
    let mut all = vec![];
    for _ in 0..3 {
        let t = Instant::now();
        all = sessions.list()?;
        loads.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let t = Instant::now();
    let index = TranscriptIndex::open(&dir.0, &all)?;
    let build = t.elapsed().as_secs_f64();
    let texts: Vec<String> = all.iter().map(lower_text).collect();

    let (mut indexed, mut scanned, mut hits_i, mut hits_s) = (vec![], vec![], 0usize, 0usize);
    for _ in 0..queries {
        let s = &all[rng.below(all.len())];
        let w = words(s);
        if w.len() < 2 {
            continue;
        }
        let q = format!("{} {}", w[rng.below(w.len())], w[rng.below(w.len())]);
        let t = Instant::now();
        hits_i += index.search(&q, 10_000)?.len();
        indexed.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let terms: Vec<&str> = q.split(' ').collect();
        hits_s += texts.iter().filter(|x| terms.iter().all(|w| x.contains(w))).count();
        scanned.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut saves = vec![];
    let sessions = sessions.with_index(std::sync::Arc::new(index));
    for i in 0..50 {
        let mut s = all[i % all.len()].clone();
        s.shopper_said("is there a lantern in red");
        let t = Instant::now();
        sessions.save(&s)?;
        saves.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let t = Instant::now();
    sessions.index().map(|i| i.commit()).transpose().map_err(|e| anyhow::anyhow!(e))?;
    let commit = t.elapsed().as_secs_f64() * 1e3;

    let accounts = Accounts::new(store.clone());
    accounts.add("bench", Role::Support, "a long bench password")?;
    let mut signs = vec![];
    for _ in 0..5 {
        let t = Instant::now();
        anyhow::ensure!(accounts.sign_in("bench", "a long bench password")?.is_some(), "sign-in failed");
        signs.push(t.elapsed().as_secs_f64() * 1e3);
    }

    let q = indexed.len().max(1);
    writeln!(out, "support console at {n} sessions ({} turns; built in {made:.1} s from Bitext utterances and Online Retail names)", all.iter().map(|s| s.turns.len()).sum::<usize>())?;
    writeln!(out, "{:<44} {:>10} {:>10}", "", "p50 ms", "p99 ms")?;
    writeln!(
        out,
        "{:<44} {:>10.1} {:>10.1}",
        "load every session (each console page)",
        percentile(&mut loads, 0.5),
        percentile(&mut loads, 0.99)
    )?;
    writeln!(
        out,
        "{:<44} {:>10.3} {:>10.3}",
        format!("indexed search ({q} two-word queries)"),
        percentile(&mut indexed, 0.5),
        percentile(&mut indexed, 0.99)
    )?;
    writeln!(
        out,
        "{:<44} {:>10.3} {:>10.3}",
        "reference: linear scan of the same text",
        percentile(&mut scanned, 0.5),
        percentile(&mut scanned, 0.99)
    )?;
    writeln!(
        out,
        "{:<44} {:>10.3} {:>10.3}",
        "save one session (sled flush + index add)",
        percentile(&mut saves, 0.5),
        percentile(&mut saves, 0.99)
    )?;
    writeln!(
        out,
        "{:<44} {:>10.1} {:>10.1}",
        "staff sign-in (argon2id verify)",
        percentile(&mut signs, 0.5),
        percentile(&mut signs, 0.99)
    )?;
    writeln!(
        out,
        "index build {build:.2} s ({:.0} sessions/s); commit after 50 saves {commit:.1} ms",
        n as f64 / build.max(1e-9)
    )?;
    writeln!(
        out,
        "mean hits per query: indexed {:.1} (stemmed, all words), scan {:.1} (substring, all words)",
        hits_i as f64 / q as f64,
        hits_s as f64 / q as f64
    )?;
    Ok(())
}
