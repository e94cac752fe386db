//! Price phrases: limits, ranges, "around", money words and currencies.
use super::*;

/// Currency words after a number ("5 pounds").
pub(super) const CURRENCY: &[&str] =
    &["pounds", "pound", "quid", "gbp", "dollars", "dollar", "usd", "euros", "euro", "eur"];

/// The currencies of the shop's customers' budgets: symbols and words, by ISO 4217 code (`$` is the dollar of a
/// dollar shop, else the US dollar; `¥` the yuan of a yuan shop, else the yen).
const CURRENCY_WORDS: &[(&str, &[&str])] = &[
    ("GBP", &["pounds", "pound", "quid", "gbp", "sterling"]),
    ("USD", &["dollars", "dollar", "usd", "bucks"]),
    ("EUR", &["euros", "euro", "eur"]),
    ("JPY", &["yen", "jpy"]),
    ("CNY", &["yuan", "rmb", "cny", "renminbi"]),
];
const DOLLAR_SHOPS: &[&str] = &["USD", "AUD", "CAD", "NZD", "SGD", "HKD"];

/// The currency a budget in the message is in, when the shop does not sell in it ("under $10" in a pound shop):
/// such a budget must not be applied as if it were in the shop's money. None when the message names no money,
/// or names the shop's.
pub fn foreign_currency(text: &str, shop: &str) -> Option<&'static str> {
    let toks = tokens(text);
    let mut found: Vec<&'static str> = vec![];
    for (i, t) in toks.iter().enumerate() {
        let priced = |rest: &str| rest.chars().next().is_some_and(|c| c.is_ascii_digit());
        let sign = match t.chars().next() {
            Some('£') if priced(&t[2..]) => Some("GBP"),
            Some('€') if priced(&t[3..]) => Some("EUR"),
            Some('$') if priced(&t[1..]) => Some(if DOLLAR_SHOPS.contains(&shop) { shop_code(shop) } else { "USD" }),
            Some('¥') if priced(&t[2..]) => Some(if shop == "CNY" { "CNY" } else { "JPY" }),
            _ => None,
        };
        let word = (number(t).is_some() || money_word(t).is_some())
            .then(|| toks.get(i + 1))
            .flatten()
            .and_then(|w| CURRENCY_WORDS.iter().find(|(_, ws)| ws.contains(&w.as_str())).map(|(c, _)| *c))
            .map(|c| {
                if c == "USD" && DOLLAR_SHOPS.contains(&shop) && !matches!(toks[i + 1].as_str(), "usd") {
                    shop_code(shop)
                } else {
                    c
                }
            });
        found.extend(sign.or(word));
    }
    (!found.is_empty() && !found.contains(&shop)).then(|| found[0])
}

/// The shop's code as a static string (one of the dollar shops).
fn shop_code(shop: &str) -> &'static str {
    DOLLAR_SHOPS.iter().find(|c| **c == shop).copied().unwrap_or("USD")
}

/// A price starting at token `i`: its value and how many tokens it takes ("£5", "5 pounds", "a fiver").
pub(super) fn money_at(toks: &[String], i: usize) -> Option<(f64, usize)> {
    let t = toks.get(i)?;
    let currency_after = |j: usize| toks.get(j).is_some_and(|n| CURRENCY.contains(&n.as_str()));
    if let Some(v) = number(t) {
        return Some((v, if currency_after(i + 1) { 2 } else { 1 }));
    }
    if matches!(t.as_str(), "a" | "an") {
        if let Some(v) = toks.get(i + 1).and_then(|n| money_word(n)).filter(|_| toks[i + 1].ends_with("er")) {
            return Some((v, 2));
        }
    }
    let v = money_word(t)?;
    if t.ends_with("er") {
        return Some((v, 1));
    }
    currency_after(i + 1).then_some((v, 2))
}

pub(super) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Reads prices, marking the tokens they take.
pub(super) fn read_prices(toks: &[String], used: &mut [bool], u: &mut Understanding) {
    let mut i = 0;
    while i < toks.len() {
        match led_price(toks, i, u).or_else(|| bare_price(toks, i, u)) {
            Some(end) => {
                used[i..end.min(toks.len())].iter_mut().for_each(|x| *x = true);
                i = end;
            }
            None => i += 1,
        }
    }
}

/// The words that lead a price at `i`: how many, and which bound it sets (true: a ceiling; none: "around").
fn lead_words(toks: &[String], i: usize) -> Option<(usize, Option<bool>)> {
    let word = |i: usize| toks.get(i).map(String::as_str).unwrap_or("");
    match word(i) {
        "under" | "below" | "max" | "maximum" | "upto" | "within" | "beneath" => Some((1, Some(true))),
        "no" | "not" if word(i + 1) == "more" && word(i + 2) == "than" => Some((3, Some(true))),
        "no" | "not" if matches!(word(i + 1), "over" | "above") => Some((2, Some(true))),
        "at" if word(i + 1) == "most" => Some((2, Some(true))),
        "at" if word(i + 1) == "least" => Some((2, Some(false))),
        "less" | "cheaper" | "lower" if word(i + 1) == "than" => Some((2, Some(true))),
        "up" if word(i + 1) == "to" => Some((2, Some(true))),
        "over" | "above" | "from" | "min" | "minimum" => Some((1, Some(false))),
        "more" if word(i + 1) == "than" => Some((2, Some(false))),
        "around" | "about" | "roughly" | "approximately" | "circa" | "approx" => Some((1, None)),
        "between" => Some((1, Some(false))),
        _ => None,
    }
}

/// A price after lead words ("under £10", "between £5 and £10", "around 20 pounds"): the end of what it took.
fn led_price(toks: &[String], i: usize, u: &mut Understanding) -> Option<usize> {
    let word = |i: usize| toks.get(i).map(String::as_str).unwrap_or("");
    let t = word(i);
    let (n, bound) = lead_words(toks, i)?;
    let (a, len) = money_at(toks, i + n)?;
    let mut end = i + n + len;
    // "between £5 and £10", "from £5 to £10"
    let range_word = matches!(word(end), "and" | "to" | "-");
    let second = range_word.then(|| money_at(toks, end + 1)).flatten();
    if let (Some((b, len2)), true) = (second, matches!(t, "between" | "from")) {
        u.min_price = Some(a.min(b));
        u.max_price = Some(a.max(b));
        end += 1 + len2;
    } else {
        match bound {
            // "between £5" alone: the price is read on its own from the next word
            Some(false) if t == "between" => return None,
            Some(true) => u.max_price = Some(a),
            Some(false) => u.min_price = Some(a),
            None => {
                u.min_price = Some(round2(a * 0.7));
                u.max_price = Some(round2(a * 1.3));
            }
        }
    }
    Some(end)
}

/// A price without a lead word: "£5-£10", "£20 or less", "5 pounds", "£5 to £10", or a bare "£20" (a ceiling).
fn bare_price(toks: &[String], i: usize, u: &mut Understanding) -> Option<usize> {
    let word = |i: usize| toks.get(i).map(String::as_str).unwrap_or("");
    let t = word(i);
    let currency_sign = t.starts_with(['£', '$', '€']) || (t.ends_with('p') && number(t).is_some());
    if let Some((a, b)) = t
        .split_once('-')
        .filter(|_| currency_sign || CURRENCY.contains(&word(i + 1)))
        .and_then(|(a, b)| Some((number(a)?, number(b)?)))
    {
        u.min_price = Some(a.min(b));
        u.max_price = Some(a.max(b));
        return Some(i + 1 + usize::from(CURRENCY.contains(&word(i + 1))));
    }
    let (a, len) = money_at(toks, i).filter(|(_, len)| currency_sign || *len == 2)?;
    let mut end = i + len;
    if matches!(word(end), "to" | "-") {
        if let Some((b, len2)) = money_at(toks, end + 1) {
            u.min_price = Some(a.min(b));
            u.max_price = Some(a.max(b));
            return Some(end + 1 + len2);
        }
    }
    if word(end) == "or" && matches!(word(end + 1), "more" | "over" | "above") {
        u.min_price = Some(a);
        end += 2;
    } else {
        u.max_price = Some(a);
        if word(end) == "or" && matches!(word(end + 1), "less" | "under" | "below") {
            end += 2;
        } else if matches!(word(end), "max" | "maximum" | "tops") {
            end += 1;
        }
    }
    Some(end)
}
