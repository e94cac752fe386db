//! Personal data out of the text: emails, phone numbers, payment card numbers and street addresses are replaced
//! with placeholders before a message is stored, logged or shown to the language model. Order numbers (six
//! digits) and prices survive.

/// What replaced each kind of personal data.
pub const EMAIL: &str = "[email]";
pub const PHONE: &str = "[phone]";
pub const CARD: &str = "[card]";
pub const ADDRESS: &str = "[address]";

const STREET_WORDS: &[&str] = &[
    "street", "st", "road", "rd", "avenue", "ave", "lane", "ln", "drive", "dr", "close", "way", "crescent", "court",
    "place", "terrace", "gardens", "grove", "square", "hill", "park", "row", "mews", "walk",
];

fn is_email(w: &str) -> bool {
    let w = w.trim_matches(|c: char| !c.is_alphanumeric());
    match w.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        }
        None => false,
    }
}

/// Luhn check for card numbers.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// UK postcode, e.g. `SW1A 1AA`, `M1 1AE`, `EC1A1BB` (outward and inward parts).
fn is_postcode(outward: &str, inward: &str) -> bool {
    let o = outward.to_ascii_uppercase();
    let i = inward.to_ascii_uppercase();
    let ob = o.as_bytes();
    let ib = i.as_bytes();
    (2..=4).contains(&ob.len())
        && ob[0].is_ascii_alphabetic()
        && ob.iter().any(u8::is_ascii_digit)
        && ob.iter().all(u8::is_ascii_alphanumeric)
        && ib.len() == 3
        && ib[0].is_ascii_digit()
        && ib[1].is_ascii_alphabetic()
        && ib[2].is_ascii_alphabetic()
}

/// Replaces personal data in `text`.
pub fn redact(text: &str) -> String {
    let toks: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if is_email(t) {
            out.push(keep_punct(t, EMAIL));
            i += 1;
            continue;
        }
        // runs of digits with spaces, dashes, dots, brackets or a leading +: phone or card numbers
        let mut j = i;
        let mut digits: Vec<u8> = vec![];
        while j < toks.len() {
            let tok = toks[j].trim_end_matches([',', '.', ';', ':', '!', '?', ')']);
            let numberish = !tok.is_empty()
                && tok.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')' | '.'))
                && tok.chars().any(|c| c.is_ascii_digit());
            if !numberish {
                break;
            }
            digits.extend(tok.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0'));
            j += 1;
            if toks[j - 1].ends_with([',', ';', '!', '?']) {
                break;
            }
        }
        if j > i {
            let last = toks[j - 1];
            let tail: String =
                last.chars().rev().take_while(|c| matches!(c, ',' | '.' | ';' | ':' | '!' | '?')).collect();
            let n = digits.len();
            let replacement = if (13..=19).contains(&n) && luhn(&digits) {
                Some(CARD)
            } else if (10..=13).contains(&n) && (digits[0] == 0 || toks[i].starts_with('+')) {
                Some(PHONE)
            } else {
                None
            };
            if let Some(r) = replacement {
                out.push(format!("{r}{}", tail.chars().rev().collect::<String>()));
                i = j;
                continue;
            }
        }
        // "221B Baker Street", "10 Downing St": a house number, one to three words, a street word
        let house = t.chars().next().is_some_and(|c| c.is_ascii_digit())
            && t.len() <= 5
            && t.chars().all(|c| c.is_ascii_alphanumeric());
        if house {
            let street_end = (i + 1..(i + 5).min(toks.len())).find(|&k| {
                let w = toks[k].trim_end_matches([',', '.']).to_lowercase();
                STREET_WORDS.contains(&w.as_str())
                    && toks[i + 1..k].iter().all(|x| x.chars().next().is_some_and(char::is_uppercase))
            });
            if let Some(k) = street_end {
                out.push(keep_punct(toks[k], ADDRESS));
                i = k + 1;
                continue;
            }
        }
        if i + 1 < toks.len() && is_postcode(t, toks[i + 1].trim_end_matches([',', '.', '!', '?'])) {
            out.push(keep_punct(toks[i + 1], "[postcode]"));
            i += 2;
            continue;
        }
        out.push(t.to_string());
        i += 1;
    }
    out.join(" ")
}

/// The placeholder, keeping the sentence punctuation that followed the original.
fn keep_punct(original: &str, placeholder: &str) -> String {
    let tail: String = original.chars().rev().take_while(|c| matches!(c, ',' | '.' | ';' | ':' | '!' | '?')).collect();
    format!("{placeholder}{}", tail.chars().rev().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_redacted_but_not_at_signs_in_prose() {
        assert_eq!(redact("mail me at jane.doe+shop@example.co.uk, thanks"), "mail me at [email], thanks");
        assert_eq!(redact("meet @ noon"), "meet @ noon");
    }

    #[test]
    fn uk_and_international_phone_numbers_in_many_formats() {
        assert_eq!(redact("call 07700 900123 please"), "call [phone] please");
        assert_eq!(redact("ring +44 20 7946 0958."), "ring [phone].");
        assert_eq!(redact("my number is 020-7946-0958"), "my number is [phone]");
        assert_eq!(redact("tel (0161) 496 0000"), "tel [phone]");
    }

    #[test]
    fn card_numbers_pass_the_luhn_check_to_count() {
        assert_eq!(redact("card 4111 1111 1111 1111 expired"), "card [card] expired");
        assert_eq!(redact("card 5500-0000-0000-0004"), "card [card]");
        // sixteen digits that fail Luhn are not a card (but are not left as a phone either)
        assert_eq!(redact("ref 1234 5678 9012 3456"), "ref 1234 5678 9012 3456");
    }

    #[test]
    fn street_addresses_and_postcodes() {
        assert_eq!(redact("send it to 221B Baker Street, London NW1 6XE"), "send it to [address], London [postcode]");
        assert_eq!(redact("I live at 10 Downing St."), "I live at [address].");
    }

    #[test]
    fn order_numbers_prices_and_quantities_survive() {
        let t = "where is order 536365? I paid £12.50 for 24 mugs";
        assert_eq!(redact(t), t);
    }
}
