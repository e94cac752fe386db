//! The catalog's own vocabulary of attributes, learned at load: a word is an attribute when it tells apart products
//! that are otherwise the same ("ALARM CLOCK BAKELIKE GREEN" / "... PINK" / "... RED": green, pink and red are
//! designs of one product family). Those families also answer "does it come in other designs?". A short seed of
//! colours and materials, and the values of products' own attributes, join the learned words, so a small catalog
//! still knows that "green" is a colour.
use crate::catalog::Product;
use crate::chat::tools::tokens;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How many families a word must share with a seeded colour, material or pattern to count as one of them.
const MIN_FAMILIES: usize = 2;

/// Rounds of "stands in for a design word" (three reach a shop's collection names from its colours).
const PROPAGATION: usize = 3;

/// Title words that only say "this is a design" ("PANTRY DESIGN"): left out of the family patterns.
const FILLER: &[&str] = &["design", "designs", "pattern", "print", "style", "assorted", "asst"];

#[rustfmt::skip]
const SEED: &[&str] = &[
    "red", "green", "blue", "pink", "white", "black", "yellow", "orange", "purple", "brown", "grey", "gray", "ivory",
    "cream", "gold", "silver", "turquoise", "navy", "beige", "lilac", "teal", "copper", "bronze", "multicolour",
    "wood", "wooden", "glass", "metal", "ceramic", "porcelain", "enamel", "zinc", "tin", "cotton", "linen", "wool",
    "felt", "leather", "plastic", "paper", "bamboo", "wicker", "velvet", "silk", "crystal", "polkadot", "spotty",
    "striped", "stripe", "floral", "gingham", "paisley", "tartan",
];

/// A word as the vocabulary keeps it: lower case, a plural "s" taken off.
pub fn norm(word: &str) -> String {
    let w = word.to_lowercase();
    let w = w.trim_matches(|c: char| !c.is_alphanumeric());
    if w.chars().count() >= 4 && w.ends_with('s') && !w.ends_with("ss") {
        w[..w.len() - 1].to_string()
    } else {
        w.to_string()
    }
}

#[derive(Debug, Default)]
pub struct Vocab {
    /// Design words: colours, materials and patterns (seeded, when the catalog uses them), the words that stand in
    /// for them in product families ("retrospot" beside "polkadot"), and the values of the shop's own colour and
    /// material attributes.
    attributes: HashSet<String>,
    /// A title without its design words ("alarm clock bakelike") -> the products that have it.
    families: HashMap<String, Vec<String>>,
    /// Product id -> its title without its design words.
    patterns: HashMap<String, Vec<String>>,
    /// Every title word (as typed, lower case) -> how many titles have it.
    words: HashMap<String, usize>,
    /// Most titles are written in a script without spaces (a Chinese catalog): messages in that script keep their
    /// own words.
    unspaced: bool,
}

impl Vocab {
    pub fn build(products: &[Arc<Product>]) -> Self {
        let (families, words, normed) = title_patterns(products);
        let seeds: HashSet<String> = SEED.iter().map(|s| norm(s)).filter(|s| normed.contains(s)).collect();
        let mut attributes = design_words(families, seeds);
        // the values of the shop's own colour/material/pattern attributes
        for p in products {
            for (k, v) in &p.attributes {
                if matches!(
                    k.to_lowercase().as_str(),
                    "colour" | "color" | "material" | "pattern" | "design" | "finish"
                ) {
                    attributes.extend(tokens(v).iter().filter(|t| t.chars().count() >= 3).map(|t| norm(t)));
                }
            }
        }
        let (families, patterns) = product_families(products, &attributes);
        let unspaced_titles = products.iter().filter(|p| p.title.chars().any(crate::search::cjk::is_cjk)).count();
        Self { attributes, families, patterns, words, unspaced: unspaced_titles * 2 > products.len().max(1) }
    }

    /// Whether a shopper's word is an attribute in this catalog.
    pub fn is_attribute(&self, word: &str) -> bool {
        self.attributes.contains(&norm(word))
    }

    pub fn attributes(&self) -> usize {
        self.attributes.len()
    }

    /// The catalog word a misspelt word most likely means ("latnerns" -> "lanterns"): the most common title word
    /// within a typo of it. None when the word is a title word already, or nothing is near.
    pub fn correct(&self, word: &str) -> Option<String> {
        let w = word.to_lowercase();
        if w.chars().count() < 4 || self.words.contains_key(&w) || self.words.contains_key(&norm(&w)) {
            return None;
        }
        // "t-light": titles keep its parts as words
        let parts: Vec<&str> = w.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()).collect();
        if parts.len() > 1 && parts.iter().all(|p| p.chars().count() < 4 || self.words.contains_key(*p)) {
            return None;
        }
        // the plural a shopper typed may be the singular of the title ("candles" / "CANDLE")
        if self.words.keys().any(|t| norm(t) == norm(&w)) {
            return None;
        }
        self.words
            .iter()
            .filter(|(t, _)| crate::chat::tools::near(t, &w))
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(t, _)| t.clone())
    }

    /// The other designs of this product: the products whose titles are the same once design words are out.
    pub fn variants(&self, id: &str) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for key in self.patterns.get(id).into_iter().flatten() {
            for other in self.families.get(key).into_iter().flatten() {
                if other != id && !out.contains(other) {
                    out.push(other.clone());
                }
            }
        }
        out
    }
}

impl crate::lang::pivot::CatalogWords for Vocab {
    fn has(&self, word: &str) -> bool {
        self.words.contains_key(word) || self.attributes.contains(&norm(word))
    }

    fn same_language(&self) -> bool {
        self.unspaced
    }
}

/// A vocabulary and the catalog version it was built from.
type Built = (u64, Arc<Vocab>);

/// The vocabulary of the catalog as it is now, rebuilt after the catalog changes. Cloning is shallow.
#[derive(Clone, Default)]
pub struct VocabCache {
    built: Arc<std::sync::RwLock<Option<Built>>>,
}

impl VocabCache {
    pub fn get(&self, catalog: &crate::catalog::Catalog) -> Arc<Vocab> {
        let version = catalog.version();
        if let Some((v, vocab)) = self.built.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if *v == version {
                return vocab.clone();
            }
        }
        let vocab = Arc::new(Vocab::build(&catalog.snapshot()));
        *self.built.write().unwrap_or_else(|e| e.into_inner()) = Some((version, vocab.clone()));
        vocab
    }
}

/// Title patterns with one word left out ("lunch bag *") and the products and words that fill them; also how
/// many titles have each word, and every normalised word of the titles, attributes and tags.
type Patterns = HashMap<String, Vec<(String, String)>>;

fn title_patterns(products: &[Arc<Product>]) -> (Patterns, HashMap<String, usize>, HashSet<String>) {
    let mut families: Patterns = HashMap::new();
    let mut words: HashMap<String, usize> = HashMap::new();
    let mut normed: HashSet<String> = HashSet::new();
    for p in products {
        let all = tokens(&p.title);
        for t in all.iter().collect::<HashSet<_>>() {
            *words.entry(t.clone()).or_default() += 1;
        }
        normed.extend(all.iter().map(|t| norm(t)));
        for v in p.attributes.values().chain(&p.tags) {
            normed.extend(tokens(v).iter().map(|t| norm(t)));
        }
        let toks: Vec<String> = all.into_iter().filter(|t| !FILLER.contains(&t.as_str())).collect();
        if toks.len() < 2 {
            continue;
        }
        for (i, t) in toks.iter().enumerate() {
            if t.chars().any(|c| c.is_ascii_digit()) || t.chars().count() < 3 {
                continue;
            }
            let mut key = toks.clone();
            key[i] = "*".into();
            families.entry(key.join(" ")).or_default().push((p.id.clone(), norm(t)));
        }
    }
    (families, words, normed)
}

/// The design words, grown from the seeds: a word that stands in for design words in two families is a design word
/// too ("retrospot" beside "polkadot", then "spaceboy" beside "retrospot"); product types stand in for each other,
/// never for designs.
fn design_words(mut families: Patterns, seeds: HashSet<String>) -> HashSet<String> {
    families.retain(|_, members| members.iter().map(|(_, w)| w).collect::<HashSet<_>>().len() >= 2);
    let mut attributes = seeds;
    for _ in 0..PROPAGATION {
        let mut beside: HashMap<&String, usize> = HashMap::new();
        for members in families.values() {
            let distinct: HashSet<&String> = members.iter().map(|(_, w)| w).collect();
            if distinct.iter().any(|w| attributes.contains(*w)) {
                for w in distinct.into_iter().filter(|w| !attributes.contains(*w)) {
                    *beside.entry(w).or_default() += 1;
                }
            }
        }
        let found: Vec<String> =
            beside.into_iter().filter(|(_, n)| *n >= MIN_FAMILIES).map(|(w, _)| w.clone()).collect();
        if found.is_empty() {
            break;
        }
        attributes.extend(found);
    }
    attributes
}

/// A family is the designs of one product: the titles that are the same once their design words are out ("LUNCH
/// BAG PINK POLKADOT", "LUNCH BAG SPACEBOY DESIGN": "lunch bag"), and the families the shop itself declares.
/// Returns the families and each product's keys.
#[allow(clippy::type_complexity)]
fn product_families(
    products: &[Arc<Product>],
    attributes: &HashSet<String>,
) -> (HashMap<String, Vec<String>>, HashMap<String, Vec<String>>) {
    let mut families: HashMap<String, Vec<String>> = HashMap::new();
    let mut patterns: HashMap<String, Vec<String>> = HashMap::new();
    let mut sorted: Vec<&Arc<Product>> = products.iter().collect();
    sorted.sort_by(|a, b| a.title.cmp(&b.title).then(a.id.cmp(&b.id)));
    for p in sorted {
        let toks = tokens(&p.title);
        let base: Vec<&str> = toks
            .iter()
            .filter(|t| !FILLER.contains(&t.as_str()) && !attributes.contains(&norm(t)))
            .map(String::as_str)
            .collect();
        if base.is_empty() {
            continue;
        }
        let key = base.join(" ");
        families.entry(key.clone()).or_default().push(p.id.clone());
        patterns.entry(p.id.clone()).or_default().push(key);
    }
    for p in products.iter().filter(|p| !p.family.is_empty()) {
        let key = format!("family:{}", p.family);
        families.entry(key.clone()).or_default().push(p.id.clone());
        patterns.entry(p.id.clone()).or_default().push(key);
    }
    (families, patterns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(titles: &[&str]) -> Vec<Arc<Product>> {
        titles.iter().enumerate().map(|(i, t)| Arc::new(Product::titled(&format!("p{i}"), t))).collect()
    }

    #[test]
    fn words_that_tell_apart_a_family_are_attributes_and_the_family_is_the_variants() {
        let v = Vocab::build(&catalog(&[
            "ALARM CLOCK BAKELIKE GREEN",
            "ALARM CLOCK BAKELIKE PINK",
            "ALARM CLOCK BAKELIKE RED",
            "LUNCH BAG PINK POLKADOT",
            "LUNCH BAG RED POLKADOT",
            "PAPER CHAIN KIT RETROSPOT",
            "WOODEN HEART DECORATION",
        ]));
        assert!(v.is_attribute("pink") && v.is_attribute("Red") && v.is_attribute("green"), "seeded colours in use");
        assert!(!v.is_attribute("clock") && !v.is_attribute("retrospot"), "never told apart");
        assert!(!v.is_attribute("lunch"), "tells apart no family here");
        assert!(!v.is_attribute("yellow"), "a seeded colour the catalog never uses");
        assert!(v.is_attribute("polkadots"), "plural of a seeded pattern the catalog uses");
        let mut variants = v.variants("p0");
        variants.sort();
        assert_eq!(variants, vec!["p1", "p2"]);
        assert!(v.variants("p5").is_empty());
    }

    #[test]
    fn a_word_standing_in_for_colours_is_a_design_word_and_one_standing_in_for_types_is_not() {
        let v = Vocab::build(&catalog(&[
            "LUNCH BAG RED POLKADOT",
            "LUNCH BAG RED RETROSPOT",
            "JUMBO BAG RED POLKADOT",
            "JUMBO BAG RED RETROSPOT",
            "CHARLOTTE BAG RED RETROSPOT",
            "SET OF 3 CAKE TINS PANTRY DESIGN",
            "SET OF 3 CAKE TINS SKETCHBOOK",
        ]));
        assert!(v.is_attribute("retrospot"), "beside polkadot in two families");
        assert!(!v.is_attribute("jumbo") && !v.is_attribute("charlotte"), "beside other product types only");
        assert_eq!(v.variants("p0"), vec!["p1"], "the lunch bag's other design, not the jumbo bag");
        assert!(v.variants("p5").is_empty(), "pantry and sketchbook are not design words here");
    }

    #[test]
    fn a_misspelt_word_is_corrected_to_the_commonest_near_title_word() {
        let v = Vocab::build(&catalog(&["HANGING LANTERN", "WHITE METAL LANTERN", "DOORMAT HEARTS", "LANTERNS SET"]));
        assert_eq!(v.correct("latnern").as_deref(), Some("lantern"));
        assert_eq!(v.correct("doormta").as_deref(), Some("doormat"));
        assert_eq!(v.correct("lanterns"), None, "a title word");
        assert_eq!(v.correct("hearts"), None);
        assert_eq!(v.correct("dinosaur"), None, "nothing near");
        assert_eq!(v.correct("white-metal"), None, "its parts are title words");
    }

    #[test]
    fn the_shops_own_colour_attribute_is_vocabulary() {
        let mut p = Product::titled("a", "Toy Car");
        p.attributes.insert("Colour".into(), "Sky Blue".into());
        let v = Vocab::build(&[Arc::new(p)]);
        assert!(v.is_attribute("sky"));
    }
}
