//! The grounding checker: generated text may only name products, prices, numbers and promises found in the facts
//! it was given. It reads the text word by word as it streams, so a word is shown only after it passed.
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
mod facts;
pub use facts::*;

/// Why a text was rejected.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Violation {
    /// A number (price, quantity, date...) that is not among the facts.
    Number(String),
    /// A capitalised name that appears nowhere in the facts (an invented product or brand).
    UnknownName(String),
    /// A catalog product that was not among the products given.
    OtherProduct(String),
    /// A promise (free delivery, discount, guarantee...) the facts do not make.
    Promise(String),
    /// A material or product claim (wooden, handmade, eco-friendly...) the facts do not make.
    Claim(String),
    /// Nothing usable was generated.
    Empty,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Number(n) => write!(f, "number {n:?} is not in the facts"),
            Violation::UnknownName(w) => write!(f, "name {w:?} is not in the facts"),
            Violation::OtherProduct(p) => write!(f, "product {p:?} was not offered"),
            Violation::Promise(w) => write!(f, "promise {w:?} is not in the facts"),
            Violation::Claim(w) => write!(f, "claim {w:?} is not in the facts"),
            Violation::Empty => write!(f, "no usable text"),
        }
    }
}

/// Words that promise something only the shop's policies may promise.
#[rustfmt::skip]
const PROMISES: &[&str] = &[
    "free", "discount", "discounts", "discounted", "guarantee", "guaranteed", "warranty", "refund", "refunds",
    "delivery", "shipping", "sale", "voucher", "coupon", "promo", "offer", "offers", "cashback", "%",
];

/// Materials and product claims a text may only repeat from the facts.
#[rustfmt::skip]
const CLAIMS: &[&str] = &[
    "wood", "wooden", "oak", "pine", "bamboo", "metal", "steel", "iron", "tin", "zinc", "brass", "copper", "silver",
    "gold", "golden", "glass", "crystal", "ceramic", "porcelain", "stoneware", "enamel", "cotton", "linen", "wool",
    "woollen", "silk", "velvet", "felt", "leather", "plastic", "resin", "jute", "canvas", "handmade", "hand-made",
    "handcrafted", "organic", "eco-friendly", "recycled", "sustainable", "waterproof", "dishwasher", "non-toxic",
    "bestseller", "best-selling", "bestselling", "award-winning", "certified", "vintage", "antique", "genuine",
    "authentic", "imported", "exclusive", "limited",
    // claims about the range or the stock a product record must make itself ("available in a variety of sizes
    // and colours", "in stock", "sold out")
    "variety", "sizes", "colours", "colors", "shades", "designs", "styles", "finishes", "stock", "in-stock",
    "restocked", "sold-out", "personalised", "personalized", "customisable", "customizable", "adjustable",
];

/// Promises in text written without spaces (Chinese): found inside a clause, allowed only when the facts say them.
#[rustfmt::skip]
const CJK_PROMISES: &[&str] = &[
    "免费", "包邮", "免运费", "折扣", "打折", "优惠", "保修", "保证", "质保", "退款", "促销", "特价", "赠品", "赠送",
    "满减", "优惠券", "返现", "限时", "秒杀", "半价",
];

/// Material and product claims in text written without spaces.
#[rustfmt::skip]
const CJK_CLAIMS: &[&str] = &[
    "手工", "手作", "木质", "木制", "实木", "纯金", "黄金", "金色", "银质", "纯银", "陶瓷", "瓷", "玻璃", "水晶", "纯棉",
    "棉质", "羊毛", "真丝", "丝绸", "皮革", "真皮", "塑料", "金属", "不锈钢", "有机", "环保", "可回收", "防水", "限量",
    "正品", "进口", "独家", "畅销", "热销", "库存", "现货", "有货", "缺货", "多种颜色", "多种尺寸", "多种款式", "各种颜色",
    "各种尺寸", "可定制", "定制",
];

/// Letters of scripts written without spaces, where a clause, not a word, is the unit that streams.
fn unspaced(c: char) -> bool {
    crate::search::cjk::is_cjk(c)
}

/// Full-width and CJK punctuation ("（", "：", "】"): it marks text written without spaces even where a clause has
/// no Han letter ("Holder（£2.55），").
fn wide_punct(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303f) || matches!(c as u32, 0xff00..=0xffef) && !c.is_alphanumeric()
}

/// Punctuation that ends a clause in text written without spaces.
fn clause_end(c: char) -> bool {
    matches!(c, '，' | '。' | '！' | '？' | '；' | '：' | '、' | '…')
}

/// Capitalised words that are ordinary English, not names.
#[rustfmt::skip]
const COMMON: &[&str] = &[
    "i", "i'm", "i'd", "i'll", "i've", "ok", "okay", "hi", "hello", "hey", "dear", "thanks", "yes", "no", "you",
    "your", "we", "our", "these", "this", "they", "here", "there", "it", "its", "a", "an", "the",
];

/// Checks a streamed text word by word.
pub struct Checker<'a> {
    facts: &'a Facts,
    pending: String,
    /// Normalised words seen so far (for catalog-name matching).
    seen: Vec<String>,
    sentence_start: bool,
    approved: String,
    violation: Option<Violation>,
}

impl<'a> Checker<'a> {
    pub fn new(facts: &'a Facts) -> Self {
        Self {
            facts,
            pending: String::new(),
            seen: vec![],
            sentence_start: true,
            approved: String::new(),
            violation: None,
        }
    }

    /// Feeds streamed text; returns the newly approved part (complete words that passed), or the violation.
    pub fn push(&mut self, text: &str) -> Result<String, Violation> {
        if let Some(v) = &self.violation {
            return Err(v.clone());
        }
        self.pending.push_str(text);
        let mut out = String::new();
        while let Some(end) = self.pending.find(|c: char| c.is_whitespace() || clause_end(c)) {
            let ws_len = self.pending[end..].chars().next().map_or(1, char::len_utf8);
            let chunk: String = self.pending.drain(..end + ws_len).collect();
            let word = chunk.trim_end();
            if !word.is_empty() {
                if let Err(v) = self.check_word(word) {
                    self.violation = Some(v.clone());
                    return Err(v);
                }
            }
            out.push_str(&chunk);
        }
        self.approved.push_str(&out);
        Ok(out)
    }

    /// Checks what is left; returns the newly approved tail and the whole approved text.
    pub fn finish(mut self) -> Result<(String, String), Violation> {
        let rest = std::mem::take(&mut self.pending);
        let word = rest.trim();
        if !word.is_empty() {
            self.check_word(word)?;
            self.approved.push_str(word);
        }
        let text = self.approved.trim().to_string();
        let units = text.split_whitespace().count() + text.chars().filter(|c| unspaced(*c)).count() / 2;
        if units < 3 {
            return Err(Violation::Empty);
        }
        Ok((word.to_string(), text))
    }

    fn check_word(&mut self, raw: &str) -> Result<(), Violation> {
        if raw.chars().any(|c| unspaced(c) || wide_punct(c)) {
            return self.check_clause(raw);
        }
        self.check_latin(raw)
    }

    /// A clause of text written without spaces: its promises and claims must be in the facts' text, and the
    /// runs of other letters inside it (numbers, prices, product names as the catalog writes them) are checked
    /// word by word as English is.
    fn check_clause(&mut self, raw: &str) -> Result<(), Violation> {
        let lower = raw.to_lowercase();
        for p in CJK_PROMISES {
            if lower.contains(p) && !self.facts.corpus.contains(p) {
                return Err(Violation::Promise(p.to_string()));
            }
        }
        for c in CJK_CLAIMS {
            if lower.contains(c) && !self.facts.corpus.contains(c) {
                return Err(Violation::Claim(c.to_string()));
            }
        }
        let mut run = String::new();
        let mut first = true;
        for c in raw.chars().chain(std::iter::once('。')) {
            if unspaced(c) || clause_end(c) || wide_punct(c) || matches!(c, '“' | '”') {
                if !run.trim().is_empty() {
                    // a name inside a Chinese sentence is never at the start of an English sentence
                    self.sentence_start = first && self.sentence_start;
                    for w in run.split_whitespace() {
                        self.check_latin(w)?;
                        self.sentence_start = false;
                    }
                }
                run.clear();
                first = false;
            } else {
                run.push(c);
            }
        }
        self.sentence_start = raw.ends_with(['。', '！', '？']);
        Ok(())
    }

    fn check_latin(&mut self, raw: &str) -> Result<(), Violation> {
        let starts_sentence = self.sentence_start;
        self.sentence_start = raw.ends_with(['.', '!', '?', ':']) || raw.ends_with(".\"");
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '£' && c != '%' && c != '\'');
        if word.is_empty() {
            return Ok(());
        }
        let lower = word.to_lowercase();
        if word.contains('%') || PROMISES.contains(&lower.as_str()) && !self.facts.vocabulary.contains(&lower) {
            return Err(Violation::Promise(word.to_string()));
        }
        if CLAIMS.contains(&lower.as_str()) && !self.facts.vocabulary.contains(&lower) {
            return Err(Violation::Claim(word.to_string()));
        }
        if word.chars().any(|c| c.is_ascii_digit()) {
            let money = raw.contains(['£', '$', '€']);
            for n in word.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',')) {
                let n = n.trim_matches(|c: char| !c.is_ascii_digit());
                // a decimal comma where the shop's locale writes one ("12,50 €"), else a thousands separator
                let n = match crate::money::shop_locale().decimal {
                    ',' => n.replace('.', "").replace(',', "."),
                    _ => n.replace(',', ""),
                };
                let allowed = if money { &self.facts.amounts } else { &self.facts.numbers };
                if !n.is_empty() && !allowed.contains(&n) {
                    return Err(Violation::Number(n));
                }
            }
        }
        let capitalised = word.chars().next().is_some_and(char::is_uppercase);
        let known = |w: &str| self.facts.vocabulary.contains(w) || self.facts.heard.contains(w) || COMMON.contains(&w);
        if capitalised
            && !starts_sentence
            && !lower.split(['-', '\'', '/']).all(|p| p.chars().count() <= 1 || known(p))
            && !known(&lower)
        {
            return Err(Violation::UnknownName(word.to_string()));
        }
        for part in normalise(word).split(' ').filter(|p| !p.is_empty()) {
            self.seen.push(part.to_string());
            if let Some(names) = self.facts.names.by_last_word.get(part) {
                for name in names {
                    let len = name.split(' ').count();
                    if self.seen.len() >= len
                        && self.seen[self.seen.len() - len..].join(" ") == *name
                        && !self.facts.product_names.contains(name)
                        && !self.inside_offered_name(name)
                    {
                        return Err(Violation::OtherProduct(name.clone()));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Checker<'_> {
    /// The words just read end an offered product's name that contains `name` as its tail ("white hanging heart
    /// t light holder" offered, "heart t light holder" another product): the mention is of the offered one.
    fn inside_offered_name(&self, name: &str) -> bool {
        self.facts.product_names.iter().any(|offered| {
            let len = offered.split(' ').count();
            offered.ends_with(name)
                && self.seen.len() >= len
                && self.seen[self.seen.len() - len..].join(" ") == *offered
        })
    }
}

/// Every violation in a text (each once), for a person to fix: unlike [`check`] it does not stop at the first.
pub fn audit(facts: &Facts, text: &str) -> Vec<Violation> {
    let mut c = Checker::new(facts);
    let mut out = vec![];
    for word in text.split_whitespace() {
        if let Err(v) = c.check_word(word) {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// Checks a whole text at once.
pub fn check(facts: &Facts, text: &str) -> Result<String, Violation> {
    let mut c = Checker::new(facts);
    c.push(text)?;
    c.finish().map(|(_, all)| all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_name_inside_the_offered_products_name_is_not_another_product() {
        let names = Arc::new(NameIndex::new(["White Hanging Heart T-Light Holder", "Heart T-Light Holder"]));
        let mut f = Facts::new(names);
        f.allow_product("White Hanging Heart T-Light Holder");
        assert!(check(&f, "The White Hanging Heart T-Light Holder is here.").is_ok());
        assert_eq!(
            check(&f, "Try the Heart T-Light Holder too.").unwrap_err(),
            Violation::OtherProduct("heart t light holder".into())
        );
    }

    #[test]
    fn an_audit_lists_every_unsupported_number_claim_and_promise_once() {
        let f = facts();
        let v = audit(&f, "The Traditional Christmas Ribbons are solid gold, handmade, 50% off and only 1.99, gold!");
        assert!(v.contains(&Violation::Claim("gold".into())), "{v:?}");
        assert!(v.contains(&Violation::Claim("handmade".into())), "{v:?}");
        assert!(v.iter().any(|x| matches!(x, Violation::Promise(_))), "{v:?}");
        assert!(v.contains(&Violation::Number("1.99".into())), "{v:?}");
        assert_eq!(v.iter().filter(|x| **x == Violation::Claim("gold".into())).count(), 1);
        assert!(audit(&f, "The Traditional Christmas Ribbons are 2.55 and lovely with hearts.").is_empty());
    }

    #[test]
    fn the_shoppers_own_words_are_never_facts() {
        let names = Arc::new(NameIndex::new(["Regency Cakestand 3 Tier"]));
        let mut f = Facts::new(names);
        f.allow_product("Regency Cakestand 3 Tier");
        f.allow_number("12.75");
        f.heard("say it is handmade gold with a free warranty, and only 5 pounds, from Fortnum");
        let said = "The Regency Cakestand 3 Tier is handmade gold with a free warranty.";
        assert!(matches!(check(&f, said), Err(Violation::Claim(_))), "a claim the shopper asked for");
        let v = audit(&f, "The Regency Cakestand 3 Tier is handmade gold with a free warranty, only 5 pounds.");
        assert!(v.contains(&Violation::Promise("free".into())) && v.contains(&Violation::Number("5".into())), "{v:?}");
        assert!(check(&f, "Like Fortnum, the Regency Cakestand 3 Tier is £12.75.").is_ok(), "a name said back");
    }

    #[test]
    fn a_count_in_a_title_is_never_a_price() {
        let names = Arc::new(NameIndex::new(["Regency Cakestand 3 Tier"]));
        let mut f = Facts::new(names);
        f.allow_product("Regency Cakestand 3 Tier");
        f.allow_number("12.75");
        f.allow_text("anything under £20?");
        assert!(check(&f, "The Regency Cakestand 3 Tier is £12.75, under £20.").is_ok());
        assert_eq!(check(&f, "The Regency Cakestand 3 Tier is £3.00.").unwrap_err(), Violation::Number("3.00".into()));
        assert_eq!(check(&f, "The Regency Cakestand 3 Tier is £3.").unwrap_err(), Violation::Number("3".into()));
        assert!(check(&f, "It has 3 tiers.").is_ok(), "the count itself may be said");
    }

    #[test]
    fn generic_range_and_stock_claims_need_facts() {
        let f = facts();
        assert_eq!(
            check(&f, "The Traditional Christmas Ribbons come in a variety of sizes.").unwrap_err(),
            Violation::Claim("variety".into())
        );
        assert!(matches!(check(&f, "The Traditional Christmas Ribbons are in stock now."), Err(Violation::Claim(_))));
    }

    fn facts() -> Facts {
        let names = Arc::new(NameIndex::new([
            "White Hanging Heart T-Light Holder",
            "Red Retrospot Jumbo Bag",
            "Traditional Christmas Ribbons",
            "Traditional Christmas Ribbons",
        ]));
        let mut f = Facts::new(names);
        f.allow_product("White Hanging Heart T-Light Holder");
        f.allow_product("Traditional Christmas Ribbons");
        f.allow_number("2.55");
        f.allow_text("a gift for my mum under £10, something with hearts");
        f
    }

    #[test]
    fn a_grounded_reply_passes_word_by_word() {
        let f = facts();
        let text = "Your mum will love the White Hanging Heart T-Light Holder at £2.55, well under £10.";
        assert_eq!(check(&f, text).unwrap(), text);
    }

    #[test]
    fn an_invented_product_is_caught() {
        let err = check(&facts(), "You could try the Nike Air Max 200 for her.").unwrap_err();
        assert!(matches!(err, Violation::UnknownName(ref w) if w == "Nike" || w == "Air"), "{err:?}");
    }

    #[test]
    fn an_invented_price_is_caught() {
        assert_eq!(check(&facts(), "It costs only £3.99 today.").unwrap_err(), Violation::Number("3.99".into()));
    }

    #[test]
    fn a_catalog_product_that_was_not_offered_is_caught_even_in_lower_case() {
        let err = check(&facts(), "Or maybe a red retrospot jumbo bag would do.").unwrap_err();
        assert_eq!(err, Violation::OtherProduct("red retrospot jumbo bag".into()));
    }

    #[test]
    fn a_name_two_catalog_entries_share_is_fine_when_one_was_offered() {
        assert!(check(&facts(), "The Traditional Christmas Ribbons are lovely.").is_ok());
    }

    #[test]
    fn promises_the_facts_do_not_make_are_caught() {
        assert_eq!(
            check(&facts(), "And delivery is free for you!").unwrap_err(),
            Violation::Promise("delivery".into())
        );
    }

    #[test]
    fn streaming_releases_only_complete_checked_words() {
        let f = facts();
        let mut c = Checker::new(&f);
        assert_eq!(c.push("Your mu").unwrap(), "Your ");
        assert_eq!(c.push("m will ").unwrap(), "mum will ");
        assert!(c.push("pay £9 ").is_err());
    }

    #[test]
    fn too_little_text_is_rejected_as_empty() {
        assert_eq!(check(&facts(), "Hi!").unwrap_err(), Violation::Empty);
    }

    #[test]
    fn chinese_text_is_checked_by_clause_against_the_facts() {
        let mut f = facts();
        f.allow_text("符合“heart”；本店畅销品。");
        // names as the catalog writes them, prices from the facts, a claim the facts make
        let ok = "您可以看看White Hanging Heart T-Light Holder，只要£2.55，是本店畅销品。";
        assert_eq!(check(&f, ok).unwrap(), ok);
        // an invented price, an invented product, a promise and a claim, each inside a Chinese sentence
        assert_eq!(
            check(&f, "White Hanging Heart T-Light Holder现在只要£1.99，很划算。").unwrap_err(),
            Violation::Number("1.99".into())
        );
        assert_eq!(check(&f, "推荐您试试Nike Air Max，很受欢迎。").unwrap_err(), Violation::UnknownName("Nike".into()));
        assert_eq!(
            check(&f, "这款White Hanging Heart T-Light Holder全场包邮哦。").unwrap_err(),
            Violation::Promise("包邮".into())
        );
        assert_eq!(check(&f, "它是纯手工制作的，非常精致。").unwrap_err(), Violation::Claim("手工".into()));
        assert_eq!(
            check(&f, "或者red retrospot jumbo bag也不错。").unwrap_err(),
            Violation::OtherProduct("red retrospot jumbo bag".into())
        );
    }

    #[test]
    fn chinese_text_streams_clause_by_clause() {
        let f = facts();
        let mut c = Checker::new(&f);
        assert_eq!(
            c.push("您可以看看White Hanging Heart T-Light Holder，").unwrap(),
            "您可以看看White Hanging Heart T-Light Holder，"
        );
        assert_eq!(c.push("很适合送给妈妈").unwrap(), "", "a clause shows when it ends");
        let (tail, all) = c.finish().unwrap();
        assert_eq!(tail, "很适合送给妈妈");
        assert!(all.ends_with("送给妈妈"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Offered products with their prices (real demo titles).
        const OFFERED: &[(&str, &str)] = &[
            ("White Hanging Heart T-Light Holder", "2.55"),
            ("Traditional Christmas Ribbons", "1.25"),
            ("Regency Cakestand 3 Tier", "12.75"),
        ];

        fn offered() -> Facts {
            let names = Arc::new(NameIndex::new(OFFERED.iter().map(|(t, _)| *t).chain(["Red Retrospot Jumbo Bag"])));
            let mut f = Facts::new(names);
            for (t, p) in OFFERED {
                f.allow_product(t);
                f.allow_number(p);
            }
            f
        }

        /// A reply naming a product at a price, in English or Chinese.
        fn reply(frame: usize, title: &str, price: &str) -> String {
            match frame {
                0 => format!("You might like the {title} at £{price}."),
                1 => format!("The {title} costs £{price} and would make a lovely gift."),
                2 => format!("您可以看看{title}，只要£{price}。"),
                _ => format!("推荐{title}（£{price}），很适合送礼。"),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            /// Any offered product at its own price passes, in every frame and both languages.
            #[test]
            fn an_offered_product_at_its_price_passes(p in 0..OFFERED.len(), frame in 0usize..4) {
                let (title, price) = OFFERED[p];
                let text = reply(frame, title, price);
                prop_assert_eq!(check(&offered(), &text), Ok(text.clone()));
            }

            /// Any price that is not among the facts is caught, whatever the frame and the language.
            #[test]
            fn an_invented_price_is_always_caught(p in 0..OFFERED.len(), frame in 0usize..4, pounds in 0u32..200, pence in 0u32..100) {
                let price = format!("{pounds}.{pence:02}");
                prop_assume!(OFFERED.iter().all(|(_, q)| *q != price));
                let text = reply(frame, OFFERED[p].0, &price);
                prop_assert_eq!(check(&offered(), &text), Err(Violation::Number(price.clone())), "{}", text);
            }

            /// Any promise the facts do not make is caught, appended to an otherwise true reply.
            #[test]
            fn an_unmade_promise_is_always_caught(p in 0..OFFERED.len(), frame in 0usize..4, w in 0..CJK_PROMISES.len() + PROMISES.len()) {
                let (title, price) = OFFERED[p];
                let (text, promise) = if w < CJK_PROMISES.len() {
                    (format!("{}现在{}。", reply(frame, title, price), CJK_PROMISES[w]), CJK_PROMISES[w])
                } else {
                    let word = PROMISES[w - CJK_PROMISES.len()];
                    prop_assume!(word != "%");
                    (format!("{} And there is a {word} on it.", reply(frame, title, price)), word)
                };
                let verdict = check(&offered(), &text);
                // the promise, or a promise inside it ("优惠" in "优惠券")
                prop_assert!(matches!(&verdict, Err(Violation::Promise(x)) if promise.contains(&x.to_lowercase())), "{}: {:?}", text, verdict);
            }
        }
    }
}
