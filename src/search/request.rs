//! What a search is asked (the request, its hard filters, the mode and sort, synonyms, the fusion weights) and
//! what it answers (hits with each side's rank and score).
use super::*;

/// Hard limits every result respects, on both sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    pub min_price: Option<f64>,
    pub max_price: Option<f64>,
    /// A category path prefix ("Hobbies" or "Hobbies > Model Trains").
    pub category: Option<String>,
    pub brand: Option<String>,
    /// Only products not known to be out of stock.
    #[serde(default)]
    pub in_stock: bool,
    /// Only products rated at least this (products without a rating are left out).
    #[serde(default)]
    pub min_rating: Option<f32>,
    /// Attributes a product must have, with these values (keys and values compared without case).
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// `key<sep>value` pairs separated by `;` (keys and values trimmed, neither empty), e.g. `colour:red;age:3 years`.
pub fn key_value_pairs(raw: &str, sep: char) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    for pair in raw.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once(sep) {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => return Err(format!("{pair:?} is not key{sep}value (pairs are separated by ';')")),
        }
    }
    Ok(out)
}

/// Attribute filters as shoppers' tools write them: `colour:red;age:3 years and up`.
pub fn attribute_filters(raw: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    key_value_pairs(raw, ':')
}

/// How an attribute is indexed and compared: `key=value`, trimmed and lower-cased.
pub fn attribute_term(key: &str, value: &str) -> String {
    format!("{}={}", key.trim().to_lowercase(), value.trim().to_lowercase())
}

impl Filters {
    pub fn allows(&self, p: &Product) -> bool {
        let price_ok = match (p.price, self.min_price, self.max_price) {
            (_, None, None) => true,
            (None, _, _) => false,
            (Some(x), lo, hi) => lo.is_none_or(|l| x + 1e-9 >= l) && hi.is_none_or(|h| x <= h + 1e-9),
        };
        let cat_ok = self.category.as_deref().is_none_or(|c| {
            let want: Vec<&str> = c.split('>').map(str::trim).filter(|s| !s.is_empty()).collect();
            let have: Vec<&str> = p.category.split('>').map(str::trim).collect();
            have.len() >= want.len() && want.iter().zip(&have).all(|(a, b)| a == b)
        });
        let brand_ok = self.brand.as_deref().is_none_or(|b| p.brand.eq_ignore_ascii_case(b));
        let stock_ok = !self.in_stock || p.stock.is_none_or(|s| s > 0);
        let rating_ok = self.min_rating.is_none_or(|r| p.rating.is_some_and(|x| f64::from(x) >= f64::from(r)));
        let attrs_ok = self.attributes.iter().all(|(k, v)| {
            let want = attribute_term(k, v);
            p.attributes.iter().any(|(pk, pv)| attribute_term(pk, pv) == want)
        });
        price_ok && cat_ok && brand_ok && stock_ok && rating_ok && attrs_ok
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Keyword,
    Semantic,
    #[default]
    Hybrid,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Relevance,
    PriceAsc,
    PriceDesc,
    Popularity,
    /// Best rated first (unrated last).
    Rating,
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Words for the keyword side.
    pub text: String,
    /// Text for the semantic side (the whole request reads better than its keywords); `text` when absent.
    pub semantic_text: Option<String>,
    pub filters: Filters,
    pub mode: Mode,
    pub sort: Sort,
    pub limit: usize,
}

/// One side's view of a result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Part {
    /// 1-based rank on that side.
    pub rank: usize,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: String,
    /// The fused score (reciprocal rank fusion), or the one side's score in a single-side mode.
    pub score: f32,
    pub keyword: Option<Part>,
    pub semantic: Option<Part>,
}

/// The shop's synonyms file: one group per line, `mum, mom, mother`; `#` starts a comment.
#[derive(Debug, Default, Clone)]
pub struct Synonyms {
    groups: HashMap<String, Vec<String>>,
}

impl Synonyms {
    pub fn parse(text: &str) -> Self {
        let mut groups: HashMap<String, Vec<String>> = HashMap::new();
        for line in text.lines().map(|l| l.split('#').next().unwrap_or("")) {
            let words: Vec<String> =
                line.split(',').map(|w| w.trim().to_lowercase()).filter(|w| !w.is_empty()).collect();
            for w in &words {
                groups.entry(w.clone()).or_default().extend(words.iter().filter(|x| *x != w).cloned());
            }
        }
        Self { groups }
    }

    pub fn load(path: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(t) => Ok(Self::parse(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    pub fn of(&self, word: &str) -> &[String] {
        self.groups.get(word).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Search settings.
#[derive(Debug, Clone, Copy)]
pub struct Fusion {
    /// The k of reciprocal rank fusion (60 is the usual choice).
    pub rrf_k: f32,
    /// Weight of the semantic side against the keyword side's 1.0.
    pub semantic_weight: f32,
    /// Candidates taken from each side before fusing.
    pub depth: usize,
}

impl Default for Fusion {
    fn default() -> Self {
        Self { rrf_k: 60.0, semantic_weight: 1.0, depth: 100 }
    }
}

/// The text a product's vector is made from.
pub fn product_text(p: &Product) -> String {
    let mut t = p.title.clone();
    if !p.category.is_empty() {
        t.push_str(". ");
        t.push_str(&p.category);
    }
    if !p.description.is_empty() {
        t.push_str(". ");
        t.extend(p.description.chars().take(400));
    }
    t
}
