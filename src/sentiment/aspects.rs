//! What a sentence of a review talks about: price, quality, delivery, size, ease of use, by the words it uses (in
//! English and in Chinese). A sentence may name several aspects or none; the sentiment of the sentence is then
//! the sentiment of each aspect it names.

/// An aspect and the words (lower case; English matched as whole words or word starts, Chinese as substrings)
/// that name it.
struct Lexicon {
    aspect: &'static str,
    english: &'static [&'static str],
    chinese: &'static [&'static str],
}

const LEXICON: &[Lexicon] = &[
    Lexicon {
        aspect: "price",
        english: &[
            "price",
            "priced",
            "cheap",
            "cheaper",
            "cheaply",
            "expensive",
            "overpriced",
            "value",
            "money",
            "cost",
            "costs",
            "bargain",
            "pricey",
            "£",
            "$",
            "worth",
            "afford",
        ],
        chinese: &["价格", "价钱", "便宜", "贵", "性价比", "划算", "实惠", "值得", "物有所值"],
    },
    Lexicon {
        aspect: "quality",
        english: &[
            "quality",
            "well made",
            "sturdy",
            "flimsy",
            "broke",
            "broken",
            "breaks",
            "durable",
            "solid",
            "fell apart",
            "robust",
            "poorly made",
            "cheaply made",
            "build",
            "built",
            "material",
            "plastic",
            "finish",
            "defective",
            "faulty",
            "snapped",
            "cracked",
            "lasts",
            "lasted",
        ],
        chinese: &["质量", "做工", "结实", "耐用", "坏了", "破", "材料", "材质", "劣质", "粗糙", "品质", "断了"],
    },
    Lexicon {
        aspect: "delivery",
        english: &[
            "delivery",
            "delivered",
            "arrived",
            "arrive",
            "shipping",
            "shipped",
            "dispatch",
            "dispatched",
            "postage",
            "parcel",
            "package",
            "packaging",
            "packaged",
            "courier",
            "came quickly",
            "on time",
            "late",
            "prompt",
            "seller",
        ],
        chinese: &["快递", "物流", "发货", "送货", "到货", "包装", "配送", "收到", "卖家", "速度"],
    },
    Lexicon {
        aspect: "size",
        english: &[
            "size",
            "sized",
            "small",
            "smaller",
            "tiny",
            "big",
            "bigger",
            "large",
            "larger",
            "huge",
            "fits",
            "fit",
            "dimensions",
            "tall",
            "short",
            "smaller than",
            "bigger than",
            "scale",
            "cm",
            "inch",
            "inches",
        ],
        chinese: &["尺寸", "大小", "太小", "太大", "尺码", "偏小", "偏大", "个头"],
    },
    Lexicon {
        aspect: "ease of use",
        english: &[
            "easy",
            "easily",
            "difficult",
            "hard to",
            "instructions",
            "assemble",
            "assembly",
            "set up",
            "setup",
            "fiddly",
            "simple",
            "batteries",
            "battery",
        ],
        chinese: &["安装", "说明书", "容易", "简单", "麻烦", "电池", "好用", "难用", "方便"],
    },
];

/// The aspects served, in the order pages list them.
pub fn names() -> Vec<&'static str> {
    LEXICON.iter().map(|l| l.aspect).collect()
}

/// The aspects `sentence` names, in [`names`]' order.
pub fn of(sentence: &str) -> Vec<&'static str> {
    let lower = sentence.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '£' || c == '$' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let joined = format!(" {} ", words.join(" "));
    LEXICON
        .iter()
        .filter(|l| {
            l.chinese.iter().any(|w| lower.contains(w))
                || l.english.iter().any(|w| {
                    if w.chars().all(|c| !c.is_alphanumeric()) {
                        lower.contains(w)
                    } else {
                        joined.contains(&format!(" {w} "))
                    }
                })
        })
        .map(|l| l.aspect)
        .collect()
}

/// A review cut into sentences (at . ! ? and their Chinese forms, and line ends), each trimmed; pieces of fewer
/// than two letters dropped.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let ends = matches!(c, '!' | '?' | '。' | '！' | '？' | '\n' | '；')
            || c == '.' && chars.peek().is_none_or(|n| n.is_whitespace());
        if ends {
            push_sentence(&mut out, &current);
            current.clear();
        }
    }
    push_sentence(&mut out, &current);
    out
}

fn push_sentence(out: &mut Vec<String>, s: &str) {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().filter(|c| c.is_alphabetic()).count() >= 2 {
        out.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_name_their_aspects_in_english_and_chinese() {
        assert_eq!(of("Great value for money, and it arrived the next day."), vec!["price", "delivery"]);
        assert_eq!(of("Very well made but smaller than I expected"), vec!["quality", "size"]);
        assert_eq!(of("My son loves it"), Vec::<&str>::new());
        // whole words: "finished" is not "finish", "scaled" not "scale"
        assert!(of("We finished the puzzle").is_empty());
        assert_eq!(of("质量很好，物流也快"), vec!["quality", "delivery"]);
        assert_eq!(of("价格便宜，就是尺寸偏小"), vec!["price", "size"]);
        assert_eq!(of("Only £5"), vec!["price"]);
    }

    #[test]
    fn reviews_are_cut_into_sentences() {
        let s = sentences("Five Stars. Lovely toy! Broke after 2.5 days? no\n质量很好。物流快！");
        assert_eq!(s, vec!["Five Stars.", "Lovely toy!", "Broke after 2.5 days?", "no", "质量很好。", "物流快！"]);
        assert!(sentences(" . ! ").is_empty());
    }
}
