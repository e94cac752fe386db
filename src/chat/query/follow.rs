//! A message read in the light of the conversation: follow-ups that keep, refine or loosen the request on the
//! table, and agreeing to what was offered.
use super::*;

fn median(prices: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = prices.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().map(|m| if v.len().is_multiple_of(2) { (m + v[v.len() / 2 - 1]) / 2.0 } else { m })
}

/// Reads a message in the light of the conversation: a follow-up without product words keeps the last request
/// (its words, attributes, count and sort); one with only attributes ("any in green?") keeps the product words and
/// takes the new attributes; exclusions and price limits carry over until changed; "cheaper" means below the middle
/// price of the products just shown, "more expensive" above it; "any price" drops the limits.
pub fn follow_up(prev: &Slots, text: &str, vocab: &Vocab) -> Understanding {
    let mut u = read(text, vocab);
    let lower = text.to_lowercase();
    let p = &prev.request;
    let explicit_price = u.max_price.is_some() || u.min_price.is_some();
    let only_attributes = !u.words.is_empty() && u.words.iter().all(|w| u.attributes.contains(w));
    if u.words.is_empty() && u.ask.is_none_or(|a| !a.needs_product()) {
        u.words = p.words.clone();
        u.attributes = p.attributes.clone();
        u.count = u.count.or(p.count);
        u.sort = u.sort.or(p.sort);
        u.recipient = u.recipient.clone().or(p.recipient.clone());
        u.semantic = if p.semantic.is_empty() { p.words.join(" ") } else { p.semantic.clone() };
    } else if only_attributes && !p.words.is_empty() {
        let kept: Vec<String> = p.words.iter().filter(|w| !p.attributes.contains(w)).cloned().collect();
        let mut words = kept.clone();
        words.extend(u.words.iter().cloned());
        u.semantic = format!("{} {}", u.words.join(" "), kept.join(" "));
        u.words = words;
        u.count = u.count.or(p.count);
        u.sort = u.sort.or(p.sort);
    }
    for e in &p.excluded {
        if !u.excluded.contains(e) && !u.words.contains(e) {
            u.excluded.push(e.clone());
        }
    }
    if !explicit_price {
        u.max_price = p.max_price;
        u.min_price = p.min_price;
    }
    if let Some(mid) = median(&prev.shown_prices) {
        if mentions(&lower, &["cheaper", "less expensive", "lower price", "too expensive", "too pricey", "too dear"]) {
            u.max_price = Some(round2(mid - 0.01).max(0.01));
            u.min_price = None;
        } else if mentions(&lower, &["more expensive", "pricier", "higher price", "more upmarket", "fancier"]) {
            u.min_price = Some(round2(mid + 0.01));
            u.max_price = None;
        }
    }
    if mentions(
        &lower,
        &["any price", "no budget", "price doesn't matter", "price does not matter", "forget the budget"],
    ) {
        u.max_price = None;
        u.min_price = None;
    }
    // the answer to "shall I show you those?", or the quick replies that drop a constraint
    if u.words == p.words {
        if let (Some(c), true) = (&p.emptied, is_yes(&lower) || lower.contains("anyway")) {
            u = u.without(c);
        }
        if mentions(&lower, DESIGN_RELAX) {
            u.attributes.clear();
            u.count = None;
        }
        if lower.contains("anyway") {
            u.excluded.clear();
        }
    }
    u.emptied = None;
    u
}

const DESIGN_RELAX: &[&str] =
    &["any design", "any colour", "any color", "any pattern", "any size", "any style", "any kind", "any material"];

/// "yes", "yes please", "sure", "go on", "show me those": agreeing to what was offered.
pub fn is_yes(lower: &str) -> bool {
    let t: String = lower.trim().trim_end_matches(['.', '!', '?']).replace(',', "");
    matches!(
        t.as_str(),
        "yes"
            | "yes please"
            | "yeah"
            | "yep"
            | "ok"
            | "okay"
            | "sure"
            | "please"
            | "please do"
            | "go on"
            | "go ahead"
            | "show me"
            | "show me those"
            | "show me them"
            | "show them"
            | "ok show me"
            | "why not"
            | "yes show me those"
            | "yes show me"
            | "yes show them"
    )
}

/// Whether a message only loosens the request on the table ("yes", "any design is fine", "show me anyway").
pub fn relaxes(text: &str) -> bool {
    let lower = text.to_lowercase();
    is_yes(&lower) || lower.contains("anyway") || mentions(&lower, DESIGN_RELAX) || lower.contains("any price")
}
