//! Occasions ("for a party"): searched for, never required.
use super::*;

/// What it is for ("for a party", "for the garden", "for school"): the words right after "for".
pub(super) fn read_occasion(toks: &[String], used: &[bool], u: &mut Understanding) {
    let word = |i: usize| toks.get(i).map(String::as_str).unwrap_or("");
    for i in 0..toks.len() {
        if word(i) != "for" || used[i] {
            continue;
        }
        let mut j = i + 1;
        while matches!(word(j), "a" | "an" | "the" | "my" | "our" | "his" | "her" | "their" | "your" | "some") {
            j += 1;
        }
        while j < toks.len() && !used[j] {
            match content(word(j)) {
                Some(c) if !RECIPIENTS.contains(&c.as_str()) => {
                    u.occasion.push(c);
                    j += 1;
                }
                _ => break,
            }
        }
    }
}
