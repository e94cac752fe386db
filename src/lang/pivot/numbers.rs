//! Numbers in a message: prices with their currency and bound, counts, and plain numbers, said the way the English
//! reader reads them.
use super::*;

impl Reader {
    /// A number at `i` with what it means: a price (in the shop's currency, or a foreign budget noted in `p`), a
    /// count ("6个装" -> "pack of 6"), or the number itself. `out` may lose a bound word said before a foreign
    /// price ("不超过" -> "under").
    pub(super) fn number_phrase(
        &self,
        t: &[char],
        i: usize,
        out: &mut Vec<String>,
        currency: &str,
        p: &mut Pivot,
    ) -> Option<(usize, Vec<String>)> {
        let mut j = i;
        let mut cur = None;
        if let Some(c) = self.currency_symbols.get(&t[i]) {
            cur = Some(c.clone());
            j += 1;
        }
        let ascii = t.get(j).is_some_and(|c| c.is_ascii_digit());
        let (a, mut j) = self.number(t, j)?;
        let unit = |j: &mut usize, cur: &mut Option<String>| {
            if let Some((w, c)) = self.currency_words.iter().find(|(w, _)| starts(t, *j, w)) {
                *cur = Some(c.clone());
                *j += w.len();
            }
        };
        unit(&mut j, &mut cur);
        if let Some((w, e)) = self.count_after.iter().find(|(w, _)| starts(t, j, w)) {
            return Some((j + w.len(), vec![format!("{e} {a}")]));
        }
        // a range: "50到100元"
        let mut b = None;
        if let Some(w) = self.range.iter().find(|w| starts(t, j, w)) {
            if let Some((x, k)) = self.number(t, j + w.len()) {
                b = Some(x);
                j = k;
                unit(&mut j, &mut cur);
            }
        }
        let after = |list: &Vec<Vec<char>>, j: &mut usize| {
            let w = list.iter().find(|w| starts(t, *j, w))?;
            *j += w.len();
            Some(())
        };
        let bound = if b.is_some() {
            "between"
        } else if after(&self.under_after, &mut j).is_some() {
            "under"
        } else if after(&self.over_after, &mut j).is_some() {
            "over"
        } else if after(&self.around_after, &mut j).is_some() {
            "around"
        } else {
            ""
        };
        let before = out.last().is_some_and(|w| matches!(w.as_str(), "under" | "over" | "around" | "between"));
        if cur.is_none() && bound.is_empty() && !before {
            // "536365" stays a number (an order number, a count); "一个" is left to the dictionary
            return ascii.then(|| (j, vec![t[i..j].iter().collect()]));
        }
        let cur = cur.unwrap_or_else(|| currency.to_string());
        if cur != currency {
            if before {
                out.pop();
            }
            p.foreign_budget = Some(cur);
            let said: String = t[i..j].iter().collect();
            p.terms.push((said, String::new()));
            return Some((j, vec![]));
        }
        let sym = symbol(currency);
        let words = match (bound, b) {
            ("between", Some(b)) => format!("between {sym}{} and {sym}{}", num(a), num(b)),
            ("", _) => format!("{sym}{}", num(a)),
            (bound, _) => format!("{bound} {sym}{}", num(a)),
        };
        p.terms.push((t[i..j].iter().collect(), words.clone()));
        Some((j, vec![words]))
    }

    /// A number at `i`: ASCII digits (with a decimal point) or the language's numerals ("一百五十", "两百").
    pub(super) fn number(&self, t: &[char], i: usize) -> Option<(f64, usize)> {
        if t.get(i)?.is_ascii_digit() {
            let mut j = i;
            while j < t.len()
                && (t[j].is_ascii_digit() || t[j] == '.' && t.get(j + 1).is_some_and(|c| c.is_ascii_digit()))
            {
                j += 1;
            }
            let s: String = t[i..j].iter().collect();
            return s.parse().ok().map(|v| (v, j));
        }
        let (mut total, mut current, mut j) = (0u32, 0u32, i);
        let mut any = false;
        while j < t.len() {
            if let Some(d) = self.digits.get(&t[j]) {
                current = current * 10 + d;
            } else if let Some(m) = self.multipliers.get(&t[j]) {
                let base = if current == 0 { 1 } else { current };
                if *m >= 10_000 {
                    total = (total + base) * m;
                } else {
                    total += base * m;
                }
                current = 0;
            } else {
                break;
            }
            any = true;
            j += 1;
        }
        (any && (total + current) > 0).then_some(((total + current) as f64, j))
    }
}

/// "100" for whole numbers, "7.5" otherwise.
fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// The symbol the English reader reads for a currency.
pub fn symbol(currency: &str) -> &'static str {
    match currency {
        "GBP" => "£",
        "USD" => "$",
        "EUR" => "€",
        "CNY" | "JPY" => "¥",
        _ => "",
    }
}
