//! The shop's standing rules for what is offered, obeyed alike by the chat's cards and by `/api/recommend` and
//! `/api/similar`: categories never offered (gift cards, age-restricted goods, a range being withdrawn) and
//! categories given a bonus in the ranking (a season's range). Set in the config's `[rules]` table, or
//! `AISLE_EXCLUDE_CATEGORIES` (comma-separated).
use crate::catalog::Product;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShopRules {
    /// Categories (a level's name or a path prefix such as "Hobbies > Model Trains") never offered.
    pub exclude_categories: Vec<String>,
    /// Category → bonus added to a product's ranking score (-1 to 1; the chat's scores run 0 to about 1.5).
    pub boost: BTreeMap<String, f32>,
}

/// Whether a product is in category `c`: its whole path, a path prefix, or one of its levels by name (any case).
pub fn matches_category(p: &Product, c: &str) -> bool {
    let (pc, c) = (p.category.to_lowercase(), c.trim().to_lowercase());
    !c.is_empty() && (pc == c || pc.starts_with(&format!("{c} >")) || pc.split(" > ").any(|level| level == c))
}

impl ShopRules {
    /// What is wrong with the rules as configured, if anything.
    pub fn problem(&self) -> Option<String> {
        self.boost
            .iter()
            .find(|(_, b)| !b.is_finite() || b.abs() > 1.0)
            .map(|(c, b)| format!("rules.boost {c:?} = {b}: a bonus is between -1 and 1"))
    }

    /// Whether the shop lets this product be offered.
    pub fn allows(&self, p: &Product) -> bool {
        !self.exclude_categories.iter().any(|c| matches_category(p, c))
    }

    /// The ranking bonus of the product's categories.
    pub fn bonus(&self, p: &Product) -> f32 {
        self.boost.iter().filter(|(c, _)| matches_category(p, c)).map(|(_, b)| *b).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.exclude_categories.is_empty() && self.boost.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(category: &str) -> Product {
        Product { id: "p".into(), title: "t".into(), category: category.into(), ..Default::default() }
    }

    #[test]
    fn a_category_is_matched_by_path_prefix_or_level_and_never_by_part_of_a_word() {
        let rules = ShopRules {
            exclude_categories: vec!["Gift Cards".into(), "hobbies > model trains".into()],
            boost: BTreeMap::from([("Christmas".into(), 0.3), ("Seasonal".into(), 0.1)]),
        };
        assert!(!rules.allows(&product("Gift Cards")));
        assert!(!rules.allows(&product("Shop > Gift Cards")));
        assert!(!rules.allows(&product("Hobbies > Model Trains > Track")));
        assert!(rules.allows(&product("Hobbies > Model Trainsets")));
        assert!(rules.allows(&product("Gift Card Holders")));
        assert!(rules.allows(&product("")));
        assert!((rules.bonus(&product("Seasonal > Christmas")) - 0.4).abs() < 1e-6);
        assert_eq!(rules.bonus(&product("Garden")), 0.0);
        assert!(rules.problem().is_none());
        let wild = ShopRules { boost: BTreeMap::from([("x".into(), 5.0)]), ..Default::default() };
        assert!(wild.problem().unwrap().contains("between -1 and 1"));
    }
}
