//! The small vocabulary of the reader: stop words, recipients, negation fillers, numbers and tokens.
/// Words that say nothing about which product is wanted.
#[rustfmt::skip]
pub(super) const STOP: &[&str] = &[
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
    "all", "not", "no", "nothing", "none", "except", "excluding", "don't", "dont", "didn't", "isn't", "aren't",
    "cheapest", "priciest", "dearest", "expensive", "affordable", "popular", "bestseller", "bestsellers", "selling",
    "seller", "sellers", "best", "top", "trending", "lowest", "highest", "least", "much", "many", "ok", "okay",
    "yes", "yeah", "sure", "old", "year", "years", "yr", "yrs", "aged", "age", "ages", "olds", "dollars", "dollar",
    "euros", "euro", "usd", "eur", "fiver", "tenner", "plenty", "kind", "sort", "type", "options", "option",
    "available", "instead", "actually", "else", "other", "another", "different", "show", "see", "let", "let's",
    "i'd", "i'll", "i've", "you've", "we're", "it's", "what's", "where", "when", "why", "will", "shall", "should",
    "am", "been", "being", "if", "then", "only", "still", "again", "now", "today", "tomorrow", "soon", "same",
    "fine", "mind", "matter", "matters", "tell", "say", "pricier", "dearer", "costlier", "loves", "likes", "enjoys", "into", "whatever", "anyway", "alright", "hmm", "um", "well", "perhaps",
];

/// Recipients: who a gift is for, read by meaning (a toy for "a boy" need not have "boy" in its title).
#[rustfmt::skip]
pub(super) const RECIPIENTS: &[&str] = &[
    "boy", "boys", "girl", "girls", "kid", "kids", "child", "children", "toddler", "toddlers", "teen", "teenager",
    "teenagers", "nephew", "niece", "grandson", "granddaughter", "grandchild", "grandchildren", "grandma", "grandpa",
    "granny", "grandmother", "grandfather", "colleague", "boss", "teacher", "neighbour", "neighbor", "girlfriend",
    "boyfriend", "partner", "aunt", "uncle", "cousin", "man", "men", "woman", "women", "lady", "ladies", "gentleman",
];

/// Words between a negation and what it negates ("nothing *with* polkadots", "not *a* red one").
pub(super) const NEG_FILLER: &[&str] = &[
    "with",
    "in",
    "any",
    "a",
    "an",
    "the",
    "that",
    "has",
    "have",
    "having",
    "made",
    "of",
    "too",
    "more",
    "featuring",
    "containing",
    "include",
    "includes",
    "including",
    "like",
    "want",
    "wanting",
    "in",
    "some",
    "so",
    "very",
    "all",
    // "but not one with polkadots", "no ones with skulls", "not anything with glitter"
    "one",
    "ones",
    "anything",
    "something",
    "stuff",
];

/// A price as typed: "£5", "5", "$5.50", "€3", "5.", "50p" (pence).
pub(super) fn number(tok: &str) -> Option<f64> {
    let t = tok.trim_start_matches(['£', '$', '€']);
    if let Some(pence) = t.strip_suffix('p').filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) {
        return pence.parse::<f64>().ok().map(|p| p / 100.0);
    }
    let t = t.trim_end_matches(|c: char| !c.is_ascii_digit());
    if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    // "5-10" does not parse: a range, read elsewhere
    t.replace(',', "").parse::<f64>().ok()
}

/// A price word standing for a number ("a fiver").
pub(super) fn money_word(tok: &str) -> Option<f64> {
    match tok {
        "fiver" => Some(5.0),
        "tenner" => Some(10.0),
        "twenty" => Some(20.0),
        "ten" => Some(10.0),
        "five" => Some(5.0),
        "fifty" => Some(50.0),
        _ => None,
    }
}

pub(super) fn small_number(tok: &str) -> Option<u32> {
    const WORDS: &[&str] =
        &["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];
    WORDS.iter().position(|w| *w == tok).map(|i| i as u32).or_else(|| tok.parse().ok()).filter(|n| *n > 0)
}

/// Lower case tokens; punctuation that ends a clause ("," "." "?" "!" ";") becomes a token of its own.
pub(super) fn tokens(text: &str) -> Vec<String> {
    let mut out = vec![];
    for raw in text.to_lowercase().replace('’', "'").split_whitespace() {
        let mut t = raw.trim_start_matches(['(', '"', '\'']);
        let mut tail = vec![];
        while let Some(c) = t.chars().last().filter(|c| matches!(c, ',' | '.' | '?' | '!' | ';' | ')' | '"' | ':')) {
            t = &t[..t.len() - c.len_utf8()];
            if matches!(c, ',' | '.' | '?' | '!' | ';' | ':') {
                tail.push(c.to_string());
            }
        }
        if !t.is_empty() {
            out.push(t.to_string());
        }
        out.extend(tail.into_iter().rev().take(1));
    }
    out
}

pub(super) fn is_boundary(t: &str) -> bool {
    matches!(t, "," | "." | "?" | "!" | ";" | ":")
}

pub(super) fn has_phrase(toks: &[String], phrase: &str) -> Option<usize> {
    let p: Vec<&str> = phrase.split(' ').collect();
    toks.windows(p.len()).position(|w| {
        w.iter().zip(&p).all(|(a, b)| a == b || b.ends_with('*') && a.starts_with(b.trim_end_matches('*')))
    })
}

pub(super) fn any_phrase(toks: &[String], phrases: &[&str]) -> bool {
    phrases.iter().any(|p| has_phrase(toks, p).is_some())
}
