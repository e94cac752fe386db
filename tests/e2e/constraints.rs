//! A property of the shopping chat, over requests generated from the demo shop's own titles (real model, index and
//! store): the hard constraints of a request hold for every card. An excluded word is on no card, a colour asked
//! for is on every card, a price limit holds; when nothing meets them all, the reply says so instead of showing
//! products that break them.
use crate::support::*;
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// A small deterministic generator (the requests are the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.next() as usize % v.len()]
    }
}

fn words(title: &str) -> Vec<String> {
    title.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(String::from).collect()
}

/// Whether a card title has the word (or its plural or singular), or, for a long word, has it run together.
fn has(title: &str, word: &str) -> bool {
    let ws = words(title);
    let singular = word.strip_suffix('s').unwrap_or(word);
    let compact: String = ws.concat();
    ws.iter().any(|w| w == word || w == singular || w.strip_suffix('s') == Some(singular))
        || singular.len() >= 6 && compact.contains(singular)
}

const COLOURS: &[&str] = &["red", "pink", "blue", "green", "white", "black", "ivory", "gold", "silver", "purple"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_card_meets_the_requests_exclusions_colours_and_prices() {
    let app = shared();
    let src = flate2::read::GzDecoder::new(std::fs::File::open(demo_file()).unwrap());
    let titles: Vec<String> = csv::Reader::from_reader(src)
        .records()
        .map(|r| r.unwrap()[2].to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut freq: HashMap<String, usize> = HashMap::new();
    for t in &titles {
        for w in words(t).into_iter().collect::<HashSet<_>>() {
            *freq.entry(w).or_default() += 1;
        }
    }
    let mut kinds: Vec<&String> = freq
        .iter()
        .filter(|(w, n)| **n >= 15 && w.len() >= 4 && w.chars().all(|c| c.is_ascii_alphabetic()))
        .map(|(w, _)| w)
        .filter(|w| !COLOURS.contains(&w.as_str()))
        .collect();
    kinds.sort();
    let mut rng = Lcg(20261201);
    let mut failures = vec![];
    for n in 0..24 {
        let kind: String = (*rng.pick(&kinds)).clone();
        // an exclusion that bites: a word of some title that has the kind
        let with_kind: Vec<&String> = titles.iter().filter(|t| words(t).contains(&kind)).collect();
        let mut near: Vec<String> = with_kind
            .iter()
            .flat_map(|t| words(t))
            .filter(|w| *w != kind && w.len() >= 4 && w.chars().all(|c| c.is_ascii_alphabetic()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        near.sort();
        let excluded = rng.pick(&near).clone();
        let colours: Vec<&str> =
            COLOURS.iter().copied().filter(|c| with_kind.iter().any(|t| words(t).contains(&c.to_string()))).collect();
        let colour =
            (n % 3 == 0 && !colours.is_empty() && !excluded.starts_with(colours[0])).then(|| *rng.pick(&colours));
        let limit = *rng.pick(&[1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0]);
        let say = match (n % 4, colour) {
            (_, Some(c)) => format!("{c} {kind} without {excluded}, under £{limit}"),
            (0, None) => format!("{kind} under £{limit}, but nothing with {excluded}"),
            (1, None) => format!("I want {kind} but not {excluded}, max £{limit}"),
            (2, None) => format!("{kind}, no {excluded} please, less than {limit} pounds"),
            _ => format!("{kind} except {excluded} for £{limit} or less"),
        };
        let mut ws = ws(app.port).await;
        send(&mut ws, json!({"type": "hello"})).await;
        next(&mut ws).await.unwrap();
        let frames = turn(&mut ws, &say).await;
        let shown = cards(&frames);
        let text = shown_text(&frames);
        for c in &shown {
            let title = c["title"].as_str().unwrap_or("");
            let price = c["price"].as_f64().unwrap_or(f64::INFINITY);
            if has(title, &excluded) {
                failures.push(format!("{say:?}: card {title:?} has the excluded {excluded:?}"));
            }
            if let Some(colour) = colour {
                if !words(title).contains(&colour.to_string()) {
                    failures.push(format!("{say:?}: card {title:?} is not {colour}"));
                }
            }
            if price > limit + 1e-9 {
                failures.push(format!("{say:?}: card {title:?} costs £{price}, over £{limit}"));
            }
        }
        let tool = frames.last().map(|d| d["tool"].as_str().unwrap_or("").to_string()).unwrap_or_default();
        if shown.is_empty() && tool == "search" && !text.contains("couldn't find") {
            failures.push(format!("{say:?}: no cards, and the reply does not say so: {text:?}"));
        }
    }
    assert!(failures.is_empty(), "{} broken constraints:\n{}", failures.len(), failures.join("\n"));
}
