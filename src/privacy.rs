//! Personal data out of the text: emails, phone numbers, payment card numbers and street addresses are replaced
//! with placeholders before a message is stored, logged or shown to the language model. Order numbers (six
//! digits) and prices survive. Phone numbers are read in UK, US and international forms, and in Chinese text
//! (written without spaces) too: mobile numbers (1[3-9] and nine digits, with or without +86), landlines
//! (010-12345678), resident ID numbers (18 characters with a valid check digit) and street addresses ending in a
//! house number (…路88号).

/// What replaced each kind of personal data.
pub const EMAIL: &str = "[email]";
pub const PHONE: &str = "[phone]";
pub const CARD: &str = "[card]";
pub const ADDRESS: &str = "[address]";
pub const ID: &str = "[id]";

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
            let groups: Vec<usize> = toks[i..j]
                .join(" ")
                .split(|c: char| !c.is_ascii_digit())
                .filter(|g| !g.is_empty())
                .map(str::len)
                .collect();
            let plus = toks[i].starts_with('+') || toks[i].starts_with("(+");
            let replacement = if (13..=19).contains(&n) && luhn(&digits) {
                Some(CARD)
            } else if (10..=13).contains(&n) && digits[0] == 0
                || plus && (8..=15).contains(&n)
                || is_us_phone(&digits, &groups)
                || is_cn_mobile(&digits)
            {
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
    redact_unspaced(&out.join(" "))
}

/// A US number: three, three and four digits (the area code not starting 0 or 1), after an optional country 1.
fn is_us_phone(digits: &[u8], groups: &[usize]) -> bool {
    match groups {
        [3, 3, 4] | [3, 7] => digits[0] >= 2,
        [1, 3, 3, 4] => digits[0] == 1 && digits[1] >= 2,
        _ => false,
    }
}

/// A Chinese mobile number: 1[3-9] and nine digits, after an optional 86 / 0086.
fn is_cn_mobile(digits: &[u8]) -> bool {
    let d = match digits.len() {
        13 if digits.starts_with(&[8, 6]) => &digits[2..],
        15 if digits.starts_with(&[0, 0, 8, 6]) => &digits[4..],
        _ => digits,
    };
    d.len() == 11 && d[0] == 1 && (3..=9).contains(&d[1])
}

/// A Chinese resident ID number: 17 digits and a check character (ISO 7064 MOD 11-2; 10 is written X).
fn is_cn_id(digits: &[u8], check: char) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    if digits.len() != 17 {
        return false;
    }
    let sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| u32::from(*d) * w).sum();
    let expected = b"10X98765432"[(sum % 11) as usize] as char;
    check.to_ascii_uppercase() == expected
}

/// Characters that may end a Chinese street name before its house number.
const CN_STREET: &[char] = &['路', '街', '道', '巷', '弄', '同', '里', '村'];
/// Words after a house number that belong to the address (building, unit, floor, room).
const CN_UNIT: &[char] = &['号', '栋', '幢', '座', '楼', '单', '元', '层', '室', '户'];

/// Personal data inside text written without spaces: digit runs (with `-`, spaces or brackets between groups)
/// that are phone or ID numbers, and Chinese street addresses.
fn redact_unspaced(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if !chars.iter().any(|c| crate::search::cjk::is_cjk(*c)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_run = (c.is_ascii_digit() || c == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
            && !(i > 0 && chars[i - 1].is_ascii_alphanumeric());
        if starts_run {
            let mut j = i + usize::from(c == '+');
            let mut digits: Vec<u8> = vec![];
            let mut groups: Vec<usize> = vec![0];
            while j < chars.len() {
                let d = chars[j];
                if d.is_ascii_digit() {
                    digits.push(d as u8 - b'0');
                    *groups.last_mut().unwrap_or(&mut 0) += 1;
                    j += 1;
                } else if matches!(d, '-' | ' ' | '(' | ')')
                    && chars.get(j + 1).is_some_and(|n| n.is_ascii_digit() || *n == '(')
                    && !digits.is_empty()
                {
                    groups.push(0);
                    j += 1;
                } else {
                    break;
                }
            }
            let groups: Vec<usize> = groups.into_iter().filter(|g| *g > 0).collect();
            let id_check = chars.get(j).copied().filter(|x| x.is_ascii_digit() || matches!(x, 'X' | 'x'));
            let n = digits.len();
            let found = if n == 18 && is_cn_id(&digits[..17], (digits[17] + b'0') as char) {
                Some((ID, j))
            } else if n == 17 && id_check.is_some_and(|x| is_cn_id(&digits, x)) {
                Some((ID, j + 1))
            } else if is_cn_mobile(&digits)
                || is_us_phone(&digits, &groups)
                || (10..=12).contains(&n) && digits[0] == 0
                || c == '+' && (8..=15).contains(&n)
            {
                Some((PHONE, j))
            } else {
                None
            };
            match found {
                Some((placeholder, end)) => {
                    out.push_str(placeholder);
                    i = end;
                }
                None => {
                    out.extend(&chars[i..j]);
                    i = j.max(i + 1);
                }
            }
            continue;
        }
        // "北京市朝阳区建国路88号3单元501室": Han letters that end in a street word, then a house number and 号
        if crate::search::cjk::is_cjk(c) {
            if let Some(end) = cn_address_at(&chars, i) {
                out.push_str(ADDRESS);
                i = end;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Where a Chinese street address that starts at `i` ends: the Han run from `i` must end in a street word
/// directly followed by a house number and 号 (then any building, unit and room parts). The run starts after a
/// word that introduces it (是, 在, 到, 寄, 送, 住) or at punctuation.
fn cn_address_at(chars: &[char], i: usize) -> Option<usize> {
    let lead = |c: char| matches!(c, '是' | '在' | '到' | '寄' | '送' | '住' | '：' | ':' | '，' | '。' | ' ');
    if i > 0 && crate::search::cjk::is_cjk(chars[i - 1]) && !lead(chars[i - 1]) {
        return None;
    }
    let mut k = i;
    // the address is the Han run after the last word that introduces it ("寄到北京…": from 北)
    while k < chars.len() && crate::search::cjk::is_cjk(chars[k]) && !lead(chars[k]) && k - i < 30 {
        k += 1;
    }
    if k - i < 3 || !CN_STREET.contains(&chars[k - 1]) || !chars.get(k).is_some_and(char::is_ascii_digit) {
        return None;
    }
    let mut j = k;
    while j < chars.len() && chars[j].is_ascii_digit() {
        j += 1;
    }
    if chars.get(j) != Some(&'号') {
        return None;
    }
    // building, unit, floor and room: digits or Chinese numerals and their words
    let mut end = j + 1;
    let mut m = end;
    while m < chars.len() {
        let d = chars[m];
        if d.is_ascii_digit() || "一二三四五六七八九十".contains(d) || d == '-' {
            m += 1;
        } else if CN_UNIT.contains(&d) {
            m += 1;
            end = m;
        } else {
            break;
        }
    }
    Some(end)
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
    fn us_and_international_numbers() {
        assert_eq!(redact("call (415) 555-0132 today"), "call [phone] today");
        assert_eq!(redact("my cell is 415-555-0132."), "my cell is [phone].");
        assert_eq!(redact("+1 415 555 0132"), "[phone]");
        assert_eq!(redact("reach me on +33 6 12 34 56 78"), "reach me on [phone]");
    }

    #[test]
    fn chinese_phones_ids_and_addresses_in_text_without_spaces() {
        assert_eq!(redact("我的手机是13812345678，请联系我"), "我的手机是[phone]，请联系我");
        assert_eq!(redact("电话138-1234-5678"), "电话[phone]");
        assert_eq!(redact("手机 +8613912345678"), "手机 [phone]");
        assert_eq!(redact("座机010-62345678找我"), "座机[phone]找我");
        // a valid check digit (GB 11643); the same number with a wrong one is not an ID
        assert_eq!(redact("身份证号11010519491231002X"), "身份证号[id]");
        assert_eq!(redact("身份证号110105194912310021"), "身份证号110105194912310021");
        assert_eq!(redact("寄到北京市朝阳区建国路88号3单元501室，谢谢"), "寄到[address]，谢谢");
        assert_eq!(redact("地址：上海市静安区南京西路1266号"), "地址：[address]");
        assert_eq!(redact("我住在杭州市西湖区文三路90号"), "我住在[address]");
    }

    #[test]
    fn chinese_order_numbers_prices_and_counts_survive() {
        for t in ["我的订单536365到哪了？", "100元以内的灯笼", "6个装的蜡烛", "我在路上，3号到"]
        {
            assert_eq!(redact(t), t);
        }
    }

    #[test]
    fn order_numbers_prices_and_quantities_survive() {
        let t = "where is order 536365? I paid £12.50 for 24 mugs";
        assert_eq!(redact(t), t);
    }
}
