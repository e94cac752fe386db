//! Reads a shopper's message for what the search needs: content words and a price range
//! ("under £10", "less than 5 pounds", "between £5 and £15", "£20 or less", "over £3").
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Understanding {
    /// Words worth searching for (stop words, price phrases and filler removed), lower case.
    pub words: Vec<String>,
    pub max_price: Option<f64>,
    pub min_price: Option<f64>,
}

/// Words that say nothing about which product is wanted.
#[rustfmt::skip]
const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "for", "to", "of", "in", "on", "at", "by", "with", "without", "from",
    "my", "me", "i", "im", "i'm", "you", "your", "we", "our", "it", "its", "is", "are", "be", "was", "this", "that",
    "these", "those", "some", "something", "anything", "thing", "things", "stuff", "any", "please", "thanks",
    "thank", "hi", "hello", "hey", "want", "wants", "need", "needs", "looking", "look", "find", "get", "buy",
    "show", "have", "has", "do", "does", "can", "could", "would", "like", "love", "nice", "good", "great", "gift",
    "gifts", "present", "presents", "idea", "ideas", "recommend", "suggest", "suggestion", "suggestions", "what",
    "which", "who", "whom", "how", "there", "here", "under", "below", "less", "than", "over", "above", "more",
    "between", "up", "max", "maximum", "most", "budget", "around", "about", "cheap", "cheaper", "pounds", "pound",
    "quid", "gbp", "price", "priced", "cost", "costs", "costing", "so", "very", "really", "just", "also", "too",
    "maybe", "mum", "mom", "mother", "dad", "father", "friend", "wife", "husband", "son", "daughter", "sister",
    "brother", "her", "him", "his", "she", "he", "they", "them", "their", "someone", "somebody", "one", "ones",
    "all",
];

fn number(tok: &str) -> Option<f64> {
    let t = tok.trim_start_matches('£').trim_end_matches(|c: char| !c.is_ascii_digit());
    if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    t.replace(',', "").parse().ok()
}

/// What the conversation has settled so far: the last request and the prices of the products last shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Slots {
    #[serde(default)]
    pub request: Understanding,
    #[serde(default)]
    pub shown_prices: Vec<f64>,
    /// Ids of the products last shown, in order ("the first one" points here).
    #[serde(default)]
    pub shown: Vec<String>,
}

fn mentions(lower: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| lower.contains(p))
}

/// Reads a message in the light of the conversation: a follow-up without product words keeps the last request's
/// words; price limits carry over until changed; "cheaper" means below the cheapest product just shown, "more
/// expensive" above the dearest; "any price" drops the limits.
pub fn follow_up(prev: &Slots, text: &str) -> Understanding {
    let mut u = understand(text);
    let lower = text.to_lowercase();
    let explicit_price = u.max_price.is_some() || u.min_price.is_some();
    if u.words.is_empty() {
        u.words = prev.request.words.clone();
    }
    if !explicit_price {
        u.max_price = prev.request.max_price;
        u.min_price = prev.request.min_price;
    }
    let cheapest = prev.shown_prices.iter().copied().fold(f64::INFINITY, f64::min);
    let dearest = prev.shown_prices.iter().copied().fold(0.0, f64::max);
    if mentions(&lower, &["cheaper", "less expensive", "lower price", "too expensive", "too pricey"])
        && cheapest.is_finite()
    {
        u.max_price = Some(((cheapest - 0.01) * 100.0).round() / 100.0);
        u.min_price = None;
    } else if mentions(&lower, &["more expensive", "pricier", "higher price", "more upmarket"]) && dearest > 0.0 {
        u.min_price = Some(((dearest + 0.01) * 100.0).round() / 100.0);
        u.max_price = None;
    }
    if mentions(&lower, &["any price", "no budget", "price doesn't matter", "price does not matter"]) {
        u.max_price = None;
        u.min_price = None;
    }
    // follow-up filler ("something", "cheaper", "instead") is not a new product word
    u.words.retain(|w| {
        !["cheaper", "expensive", "pricier", "instead", "actually", "else", "other", "another", "different"]
            .contains(&w.as_str())
    });
    if u.words.is_empty() {
        u.words = prev.request.words.clone();
    }
    u
}

/// The message with its price phrases ("under £10", "between £5 and £8") taken out; a message without one comes
/// back as it is (trimmed), so the embedding of the same text made for its intent is reused.
pub fn without_prices(text: &str) -> String {
    const LEAD: &[&str] =
        &["under", "below", "less", "than", "up", "to", "max", "over", "above", "between", "and", "or"];
    let typed: Vec<&str> = text.split_whitespace().collect();
    let lower: Vec<String> = typed.iter().map(|t| t.to_lowercase()).collect();
    let toks: Vec<&str> = lower.iter().map(String::as_str).collect();
    let is_price = |t: &str| t.contains('£') || t.trim_end_matches([',', '.']).parse::<f64>().is_ok();
    let mut keep = vec![true; toks.len()];
    for (i, t) in toks.iter().enumerate() {
        if is_price(t) {
            keep[i] = false;
            let mut j = i;
            while j > 0 && LEAD.contains(&toks[j - 1].trim_end_matches(',')) {
                j -= 1;
                keep[j] = false;
            }
            if toks.get(i + 1).is_some_and(|n| ["pounds", "quid", "gbp"].contains(n)) {
                keep[i + 1] = false;
            }
        }
    }
    if keep.iter().all(|k| *k) {
        return text.trim().to_string();
    }
    let kept: Vec<&str> = typed.iter().zip(keep).filter(|(_, k)| *k).map(|(t, _)| *t).collect();
    kept.join(" ").trim_matches([',', ' ']).to_string()
}

pub fn understand(text: &str) -> Understanding {
    let lower = text.to_lowercase();
    let toks: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '!' | '?' | ';' | '(' | ')' | '"'))
        .filter(|t| !t.is_empty())
        .map(|t| t.trim_end_matches('.'))
        .collect();
    let mut u = Understanding::default();
    // after a price word ("under", "less than"...) a bare number is money too
    let money = |i: usize| toks.get(i).and_then(|t| number(t));
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let next_is = |k: usize, w: &[&str]| toks.get(i + k).is_some_and(|x| w.contains(x));
        match t {
            "under" | "below" | "max" | "maximum" | "upto" | "within" => {
                if let Some(n) = money(i + 1) {
                    u.max_price = Some(n);
                    i += 2;
                    continue;
                }
            }
            "less" | "cheaper" | "lower" if next_is(1, &["than"]) => {
                if let Some(n) = money(i + 2) {
                    u.max_price = Some(n);
                    i += 3;
                    continue;
                }
            }
            "up" if next_is(1, &["to"]) => {
                if let Some(n) = money(i + 2) {
                    u.max_price = Some(n);
                    i += 3;
                    continue;
                }
            }
            "over" | "above" | "from" => {
                if let Some(n) = money(i + 1) {
                    u.min_price = Some(n);
                    i += 2;
                    continue;
                }
            }
            "more" if next_is(1, &["than"]) => {
                if let Some(n) = money(i + 2) {
                    u.min_price = Some(n);
                    i += 3;
                    continue;
                }
            }
            "between" => {
                if let (Some(a), true, Some(b)) = (money(i + 1), next_is(2, &["and", "to", "-"]), money(i + 3)) {
                    u.min_price = Some(a.min(b));
                    u.max_price = Some(a.max(b));
                    i += 4;
                    continue;
                }
            }
            _ => {}
        }
        if t.starts_with('£') {
            // "£5-£10", "£20 or less", "£20 or more", or a bare "£20" read as a ceiling
            if let Some((a, b)) = t.split_once('-').and_then(|(a, b)| Some((number(a)?, number(b)?))) {
                u.min_price = Some(a.min(b));
                u.max_price = Some(a.max(b));
            } else if let Some(n) = number(t) {
                if next_is(1, &["or"]) && next_is(2, &["more", "over", "above"]) {
                    u.min_price = Some(n);
                } else {
                    u.max_price = Some(n);
                }
                if next_is(1, &["or"]) && next_is(2, &["more", "over", "above", "less", "under", "below"]) {
                    i += 2;
                }
            }
            i += 1;
            continue;
        }
        let word = t.trim_matches(|c: char| !c.is_alphanumeric()).to_string();
        let useful = word.len() > 1 && !STOP.contains(&word.as_str()) && !word.chars().all(|c| c.is_ascii_digit());
        if useful && !u.words.contains(&word) {
            u.words.push(word);
        }
        i += 1;
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walking_skeleton_question_reads_as_hearts_under_ten_pounds() {
        let u = understand("a gift for my mum under £10, something with hearts");
        assert_eq!(u.words, vec!["hearts"]);
        assert_eq!(u.max_price, Some(10.0));
        assert_eq!(u.min_price, None);
    }

    #[test]
    fn price_phrases_set_the_range() {
        assert_eq!(understand("candles less than 5 pounds").max_price, Some(5.0));
        assert_eq!(understand("lanterns up to £7.50").max_price, Some(7.5));
        let b = understand("a bag between £5 and £15");
        assert_eq!((b.min_price, b.max_price), (Some(5.0), Some(15.0)));
        assert_eq!(understand("mugs £20 or less").max_price, Some(20.0));
        assert_eq!(understand("vintage clock over £3").min_price, Some(3.0));
        assert_eq!(understand("tins £2-£4").max_price, Some(4.0));
    }

    #[test]
    fn price_phrases_come_out_of_the_semantic_query() {
        assert_eq!(
            without_prices("a gift for my mum under £10, something with hearts"),
            "a gift for my mum something with hearts"
        );
        assert_eq!(without_prices("candles between £2 and £6"), "candles");
        assert_eq!(without_prices("Lego  Star Wars, under 20 pounds"), "Lego Star Wars", "the shopper's case kept");
        assert_eq!(without_prices(" A Lego set for my nephew "), "A Lego set for my nephew", "nothing to take out");
    }

    #[test]
    fn a_follow_up_keeps_the_request_and_cheaper_means_below_what_was_shown() {
        let prev =
            Slots { request: understand("hearts under £10"), shown_prices: vec![7.95, 1.25, 0.85], shown: vec![] };
        let u = follow_up(&prev, "actually something cheaper");
        assert_eq!(u.words, vec!["hearts"]);
        assert_eq!(u.max_price, Some(0.84));
        let u = follow_up(&prev, "and candles?");
        assert_eq!(u.words, vec!["candles"]);
        assert_eq!(u.max_price, Some(10.0), "the budget carries over");
        let u = follow_up(&prev, "show me more expensive ones");
        assert_eq!((u.min_price, u.max_price), (Some(7.96), None));
        assert_eq!(follow_up(&prev, "any price is fine").max_price, None);
        assert_eq!(follow_up(&prev, "under £5 instead").max_price, Some(5.0));
    }

    #[test]
    fn numbers_that_are_not_prices_are_left_alone() {
        let u = understand("set of 12 pencils");
        assert_eq!(u.max_price, None);
        assert_eq!(u.words, vec!["set", "pencils"]);
    }
}
