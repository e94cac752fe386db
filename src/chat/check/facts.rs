//! What a checked text may use: the catalog's product names and the facts of one reply.
use super::*;

/// Catalog product names, normalised, indexed by their last word so a mention is found as it completes.
#[derive(Default)]
pub struct NameIndex {
    pub(super) by_last_word: HashMap<String, Vec<String>>, // last word -> normalised names
}

/// Lower case, letters and digits only, single spaces.
pub fn normalise(s: &str) -> String {
    s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

impl NameIndex {
    pub fn new<'a>(titles: impl IntoIterator<Item = &'a str>) -> Self {
        let mut by_last_word: HashMap<String, Vec<String>> = HashMap::new();
        for title in titles {
            let n = normalise(title);
            // one- and two-word names are too generic to prove a mention ("Candle", "Red Bag")
            if n.split(' ').count() < 3 {
                continue;
            }
            let last = n.rsplit(' ').next().unwrap_or_default().to_string();
            let names = by_last_word.entry(last).or_default();
            if !names.contains(&n) {
                names.push(n);
            }
        }
        Self { by_last_word }
    }
}

/// The facts a text may use.
pub struct Facts {
    /// Normalised names of the products offered (two catalog entries may share a name).
    pub product_names: HashSet<String>,
    /// Every word of the facts and of the shopper's message, lower case.
    pub vocabulary: HashSet<String>,
    /// The facts' own text, lower case, for the claims of text written without spaces (found as substrings).
    pub corpus: String,
    /// Numbers that may appear, as written in the facts ("2.55", "10").
    pub numbers: HashSet<String>,
    /// The amounts among them (written with decimals, as prices are): only these may follow a currency sign, so
    /// the "3" of "Cakestand 3 Tier" never makes "£3.00" a price.
    pub amounts: HashSet<String>,
    /// The shopper's words: a reply may say them back as names ("Lego", "Peppa"), never as facts.
    pub heard: HashSet<String>,
    pub names: Arc<NameIndex>,
}

impl Facts {
    pub fn new(names: Arc<NameIndex>) -> Self {
        Self {
            product_names: HashSet::new(),
            vocabulary: HashSet::new(),
            corpus: String::new(),
            numbers: HashSet::new(),
            amounts: HashSet::new(),
            heard: HashSet::new(),
            names,
        }
    }

    /// Adds the shopper's message: its words may be said back as names, but a claim, a promise or a number the
    /// shopper wrote ("say it is handmade with a free warranty") is not a fact.
    pub fn heard(&mut self, text: &str) {
        for w in text.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
            if !w.is_empty() {
                self.heard.insert(w.to_lowercase());
            }
        }
    }

    /// Adds a text whose words and numbers may be repeated (an amount after a currency sign, "under £10", may be
    /// repeated as one).
    pub fn allow_text(&mut self, text: &str) {
        self.corpus.push_str(&text.to_lowercase());
        self.corpus.push('\n');
        for (at, _) in text.match_indices(['£', '$', '€']) {
            let rest = &text[at..];
            let raw: String =
                rest.chars().skip(1).take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',').collect();
            // as the checker reads a number: a decimal comma where the shop's locale writes one
            let amount = match crate::money::shop_locale().decimal {
                ',' => raw.replace('.', "").replace(',', "."),
                _ => raw.replace(',', ""),
            };
            let amount = amount.trim_end_matches('.');
            if !amount.is_empty() {
                self.amounts.insert(amount.to_string());
                if let Some(v) = amount.parse::<f64>().ok().filter(|v| v.fract() == 0.0) {
                    self.amounts.insert(format!("{v:.2}"));
                }
            }
        }
        for w in text.split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '\'')) {
            let w = w.trim_matches('.');
            if w.is_empty() {
                continue;
            }
            if w.chars().any(|c| c.is_ascii_digit()) {
                self.allow_number(w);
            }
            for part in w.split('.') {
                self.vocabulary.insert(part.to_lowercase());
            }
            self.vocabulary.insert(w.to_lowercase());
        }
    }

    pub fn allow_number(&mut self, n: &str) {
        let n = n.trim_matches(|c: char| !c.is_ascii_digit());
        self.numbers.insert(n.to_string());
        if n.contains('.') {
            self.amounts.insert(n.to_string());
        }
        if let Some(whole) = n.strip_suffix(".00") {
            self.numbers.insert(whole.to_string());
            self.amounts.insert(whole.to_string());
        }
        if let Some(v) = n.parse::<f64>().ok().filter(|v| v.fract() == 0.0) {
            self.numbers.insert(format!("{v:.2}"));
            if n.contains('.') {
                self.amounts.insert(format!("{v:.2}"));
            }
        }
    }

    pub fn allow_product(&mut self, title: &str) {
        self.product_names.insert(normalise(title));
        self.allow_text(title);
    }
}
