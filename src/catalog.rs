//! The product record and the in-memory catalog: every fact a card or a prompt states comes from here.
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A product as the shop describes it. Only `id` and `title` are required.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Product {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Category path, levels separated by " > ".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub brand: String,
    /// Price in the shop's currency (GBP for the demo shop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f32>,
    /// Review text, kept for search and product questions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reviews: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Free attributes the shop keeps (`age`: `3 years and up`, `colour`: `red`); searchable and filterable.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Pictures of it (http(s) addresses, or paths on the shop's site), the main one first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Its page on the shop's site (an http(s) address or a path), where a card leads.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// The price before a reduction ("was £5.00"), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_at_price: Option<f64>,
    /// Global Trade Item Number (EAN, UPC, ISBN) and the manufacturer's part number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gtin: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mpn: String,
    /// The product family this is a variant of (a Shopify handle, a Merchant Center `item_group_id`): the other
    /// products of the family are its other designs and sizes; its options (colour, size) are in `attributes`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family: String,
}

/// A web address a page may link to or load: `http(s)://...` or a path on the shop's own site (`/p/123`), with
/// no spaces, quotes or angle brackets; None for anything else (`javascript:`, `data:`...).
pub fn web_address(s: &str) -> Option<String> {
    let s = s.trim();
    let scheme_ok =
        s.starts_with("https://") || s.starts_with("http://") || (s.starts_with('/') && !s.starts_with("//"));
    let clean = !s.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\'));
    (scheme_ok && clean && s.len() <= 2048).then(|| s.to_string())
}

impl Product {
    /// A product with only an id and a title (the other fields empty).
    pub fn titled(id: &str, title: &str) -> Self {
        Self { id: id.into(), title: title.into(), ..Default::default() }
    }

    /// What is wrong with its addresses (an image or page that is not a web address), if anything.
    pub fn address_problem(&self) -> Option<String> {
        if !self.url.is_empty() && web_address(&self.url).is_none() {
            return Some(format!("url {:?} is not an http(s) address or a path", self.url));
        }
        let bad = self.images.iter().find(|i| web_address(i).is_none())?;
        Some(format!("image {bad:?} is not an http(s) address or a path"))
    }

    /// The price as shoppers read it ("£2.55"), or "price on request".
    pub fn price_label(&self) -> String {
        match self.price {
            Some(p) => format_price(p),
            None => "price on request".into(),
        }
    }
}

pub use crate::money::{format_money, format_price, set_shop_currency, shop_currency};

/// All products by id, updated in place when the shop changes a product. Cloning is shallow.
#[derive(Clone, Default)]
pub struct Catalog {
    products: Arc<RwLock<HashMap<String, Arc<Product>>>>,
    /// Bumped by every change, so what is derived from the catalog (its vocabulary) knows when to rebuild.
    version: Arc<std::sync::atomic::AtomicU64>,
}

impl Catalog {
    pub fn new(products: impl IntoIterator<Item = Product>) -> Self {
        let map = products.into_iter().map(|p| (p.id.clone(), Arc::new(p))).collect();
        Self { products: Arc::new(RwLock::new(map)), version: Default::default() }
    }
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Product>>> {
        self.products.read().unwrap_or_else(|e| e.into_inner())
    }
    pub fn get(&self, id: &str) -> Option<Arc<Product>> {
        self.read().get(id).cloned()
    }
    pub fn len(&self) -> usize {
        self.read().len()
    }
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }
    /// Every product, as of now.
    pub fn snapshot(&self) -> Vec<Arc<Product>> {
        self.read().values().cloned().collect()
    }
    pub fn upsert(&self, p: Product) {
        self.products.write().unwrap_or_else(|e| e.into_inner()).insert(p.id.clone(), Arc::new(p));
        self.version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    /// Adds or replaces many products under one lock: a reader sees all of them or none.
    pub fn upsert_all(&self, products: impl IntoIterator<Item = Product>) {
        let mut map = self.products.write().unwrap_or_else(|e| e.into_inner());
        for p in products {
            map.insert(p.id.clone(), Arc::new(p));
        }
        drop(map);
        self.version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn remove(&self, id: &str) -> Option<Arc<Product>> {
        let gone = self.products.write().unwrap_or_else(|e| e.into_inner()).remove(id);
        self.version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        gone
    }
    /// Changes so far (see [`Catalog::upsert`], [`Catalog::remove`]).
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Title case for shouting catalog names ("WHITE HANGING HEART" -> "White Hanging Heart").
pub fn title_case(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            let lower = w.to_lowercase();
            let mut out = String::with_capacity(lower.len());
            let mut start = true;
            for c in lower.chars() {
                if start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                    start = false;
                } else {
                    out.push(c);
                    if c == '-' || c == '/' || c == '(' {
                        start = true;
                    }
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_case_handles_hyphens_and_codes() {
        assert_eq!(title_case("WHITE HANGING HEART T-LIGHT HOLDER "), "White Hanging Heart T-Light Holder");
        assert_eq!(title_case("SET/3 RED TINS"), "Set/3 Red Tins");
    }

    #[test]
    fn prices_print_with_two_decimals() {
        assert_eq!(format_price(2.5), "£2.50");
    }
}
