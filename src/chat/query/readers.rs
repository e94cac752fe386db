//! Negations, recipients and ages, and counts.
use super::*;

/// A content word: one that may name or describe a product.
pub(super) fn content(t: &str) -> Option<String> {
    let w = t.trim_matches(|c: char| !c.is_alphanumeric());
    let useful = w.chars().count() > 1 && !STOP.contains(&w) && !w.chars().all(|c| c.is_ascii_digit());
    useful.then(|| w.to_string())
}

/// Reads negations ("without X", "no X or Y", "nothing with X", "anything but X", "not a red one", "I don't want
/// X", "except X"), marking their tokens.
pub(super) fn read_negations(toks: &[String], used: &mut [bool], u: &mut Understanding) {
    let word = |i: usize| toks.get(i).map(String::as_str).unwrap_or("");
    let mut i = 0;
    while i < toks.len() {
        let t = word(i);
        let start = match t {
            "without" | "except" | "excluding" | "minus" | "sans" | "avoid" | "hate" | "dislike" => Some(i + 1),
            "but" if matches!(word(i + 1), "not" | "no") => Some(i + 2),
            "but" if i > 0 && matches!(word(i - 1), "anything" | "everything" | "whatever") => Some(i + 1),
            "no" | "not" | "nothing" | "none" | "never" if !used[i] => {
                // "no, I meant...", "not sure", "not too expensive": not an exclusion
                let next = word(i + 1);
                let filler =
                    matches!(next, "" | "sure" | "expensive" | "cheap" | "pricey" | "problem" | "worries" | "thanks")
                        || next == "too" && matches!(word(i + 2), "expensive" | "pricey" | "dear" | "big" | "small");
                (!is_boundary(next) && !filler).then_some(i + 1)
            }
            "don't" | "dont" | "do" | "didn't" | "wouldn't"
                if matches!(word(i + 1), "want" | "like" | "need" | "fancy")
                    || t == "do" && word(i + 1) == "not" && matches!(word(i + 2), "want" | "like" | "need") =>
            {
                Some(i + if t == "do" { 3 } else { 2 })
            }
            _ => None,
        };
        let Some(mut j) = start else {
            i += 1;
            continue;
        };
        let begin = i;
        while NEG_FILLER.contains(&word(j)) && !used.get(j).copied().unwrap_or(true) {
            j += 1;
        }
        let mut phrase: Vec<String> = vec![];
        let mut found = false;
        while j < toks.len() && !used[j] {
            let w = word(j);
            if matches!(w, "or" | "and" | "nor") || w == "," && matches!(word(j + 1), "or" | "and") {
                if !phrase.is_empty() {
                    u.excluded.push(phrase.join(" "));
                    phrase.clear();
                }
                j += 1;
                continue;
            }
            match content(w) {
                Some(c) if !RECIPIENTS.contains(&c.as_str()) => {
                    phrase.push(c);
                    found = true;
                    j += 1;
                }
                // "not a red one": the filler after the negated words ends it
                _ => break,
            }
        }
        if !phrase.is_empty() {
            u.excluded.push(phrase.join(" "));
        }
        if found {
            used[begin..j].iter_mut().for_each(|x| *x = true);
        }
        i = j.max(i + 1);
    }
    u.excluded.dedup();
}

/// Ages ("a 7 year old", "aged 5", "for my 10-year-old") and recipients ("a boy"): who it is for.
pub(super) fn read_recipient(toks: &[String], used: &mut [bool], u: &mut Understanding) {
    let word = |i: usize| toks.get(i).map(String::as_str).unwrap_or("");
    for i in 0..toks.len() {
        if used[i] {
            continue;
        }
        let t = word(i);
        // "7-year-old"
        let hyphen_age = t.split('-').collect::<Vec<_>>();
        let age: Option<(u32, usize, usize)> =
            if hyphen_age.len() >= 2 && matches!(hyphen_age[1], "year" | "yr" | "years") {
                hyphen_age[0].parse().ok().map(|a| (a, i, i + 1))
            } else if let (Some(a), true) =
                (small_number(t), matches!(word(i + 1), "year" | "years" | "yr" | "yrs" | "yo" | "y/o"))
            {
                let end = if matches!(word(i + 2), "old" | "olds") { i + 3 } else { i + 2 };
                Some((a, i, end))
            } else if matches!(t, "aged" | "age" | "ages") {
                small_number(word(i + 1)).map(|a| (a, i, i + 2))
            } else {
                None
            };
        if let Some((a, from, to)) = age {
            used[from..to.min(toks.len())].iter_mut().for_each(|x| *x = true);
            u.recipient = Some(match a {
                0..=2 => "a baby".into(),
                3..=12 => format!("a child aged {a}"),
                13..=17 => "a teenager".into(),
                _ => "an adult".into(),
            });
        } else if RECIPIENTS.contains(&t) && u.recipient.is_none() {
            u.recipient = Some(format!("a {t}"));
        }
    }
}

/// "set of 6", "pack of twelve", "6 pack", "box of 12", "6 piece".
pub(super) fn read_count(toks: &[String], used: &mut [bool], u: &mut Understanding) {
    let word = |i: usize| toks.get(i).map(String::as_str).unwrap_or("");
    for i in 0..toks.len() {
        if used[i] {
            continue;
        }
        if matches!(word(i), "set" | "pack" | "box" | "sets" | "packs") && word(i + 1) == "of" {
            if let Some(n) = small_number(word(i + 2)) {
                u.count = Some(n);
                used[i + 1] = true;
                used[i + 2] = true;
                return;
            }
        }
        if let Some(n) = small_number(word(i)).filter(|_| word(i).chars().all(|c| c.is_ascii_digit()) || i > 0) {
            if matches!(word(i + 1), "pack" | "piece" | "pieces" | "pc" | "pcs" | "set") {
                u.count = Some(n);
                used[i] = true;
                return;
            }
        }
    }
}
