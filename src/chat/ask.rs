//! The questions a typed request asks, answered from the catalog, the recommender's neighbours, co-purchase data and
//! the shopper's own orders: a product's price or stock, its other designs, similar products, what goes with it,
//! the last order. Also which product a question is about ("it", "the red one", "the second one", a name), and
//! whether a message names products of this shop at all.
use super::query::Slots;
use super::{query, tools, vocab, Assistant, ShoppingTool, Understanding};
use crate::search::{Mode, SearchRequest};
use std::sync::Arc;

/// Most items a past order lists.
const LISTED: usize = 8;

impl Assistant {
    /// A question the typed request asks (a price, stock, other designs, similar products, what goes with one,
    /// past orders), answered from the catalog, the recommender's neighbours and the shopper's orders, when the
    /// product it is about can be told.
    pub(super) async fn ask_tool(&self, text: &str, customer: Option<&str>, slots: &Slots) -> Option<ShoppingTool> {
        let this = self.clone();
        let (t, c, s) = (text.to_string(), customer.map(str::to_string), slots.clone());
        tokio::task::spawn_blocking(move || this.ask_blocking(&t, c.as_deref(), &s)).await.ok().flatten()
    }

    pub(super) fn ask_blocking(&self, text: &str, customer: Option<&str>, slots: &Slots) -> Option<ShoppingTool> {
        use query::Ask;
        let vocab = self.vocab.get(&self.catalog);
        let u = query::read(text, &vocab);
        let ask = u.ask?;
        if !ask.needs_product() {
            return Some(ShoppingTool::List(self.past_order(customer, ask)));
        }
        let mut p = self.target(text, &u, slots, &vocab)?;
        let facts = |p: &crate::catalog::Product| tools::facts(p, self.behavior.get().popularity(&p.id));
        let has = |p: &crate::catalog::Product, a: &str| {
            tools::tokens(&p.title).iter().any(|t| vocab::norm(t) == vocab::norm(a))
        };
        // "the price of it in green": the design asked for, when the product has one
        let wanted = u.attributes.iter().find(|a| !has(&p, a)).cloned();
        if let (Some(a), Ask::Price | Ask::Stock) = (&wanted, ask) {
            if let Some(v) = vocab.variants(&p.id).iter().filter_map(|id| self.catalog.get(id)).find(|v| has(v, a)) {
                p = v;
            }
        }
        let item = |q: &crate::catalog::Product, reason: String| tools::Item { facts: facts(q), reason };
        let listing = |tool: &'static str, items: Vec<tools::Item>| tools::Listing {
            tool,
            about: Some(facts(&p)),
            items,
            wanted: wanted.clone(),
            ..Default::default()
        };
        let shown_title = crate::catalog::title_case(&p.title);
        Some(match ask {
            Ask::Price | Ask::Stock => {
                let mut a = tools::answer(&p, self.behavior.get().popularity(&p.id), text);
                a.ask = Some(ask);
                if !super::available(&p) {
                    // out of stock: its designs in stock first, then what is like it
                    let reason = self.phrases.say("in_stock_instead", &[("title", &shown_title)]);
                    a.alternatives =
                        self.in_stock_instead(&p, &vocab).into_iter().map(|q| item(&q, reason.clone())).collect();
                }
                ShoppingTool::Question(a)
            }
            Ask::Variants => {
                let mut seen = std::collections::HashSet::from([p.title.to_lowercase()]);
                let all: Vec<_> = vocab
                    .variants(&p.id)
                    .iter()
                    .filter_map(|id| self.catalog.get(id))
                    .filter(|v| seen.insert(v.title.to_lowercase()))
                    .collect();
                let matching: Vec<_> = match &wanted {
                    Some(a) => all.iter().filter(|v| has(v, a)).cloned().collect(),
                    None => all.clone(),
                };
                let found = wanted.is_none() || !matching.is_empty();
                let list = if found { matching } else { all };
                let items = list
                    .iter()
                    .take(8)
                    .map(|v| item(v, self.phrases.say("variant", &[("title", &shown_title)])))
                    .collect();
                ShoppingTool::List(tools::Listing { wanted_found: found, ..listing("variants", items) })
            }
            Ask::Similar => {
                let items = self
                    .similar_products(&p)
                    .into_iter()
                    .filter(|(q, _)| self.offerable(q))
                    .take(self.cards)
                    .map(|(q, co_bought)| {
                        let key = if co_bought { "co_bought" } else { "alike" };
                        item(&q, self.phrases.say(key, &[("title", &shown_title)]))
                    })
                    .collect();
                ShoppingTool::List(listing("similar", items))
            }
            Ask::GoesWith => {
                let items = self
                    .goes_with(&p, &vocab)
                    .into_iter()
                    .map(|q| item(&q, self.phrases.say("goes_with", &[("title", &shown_title)])))
                    .collect();
                ShoppingTool::List(listing("goes_with", items))
            }
            Ask::PastOrders | Ask::Reorder => unreachable!("answered above"),
        })
    }

    /// For a product out of stock: its designs in stock first, then what is like it (one per title).
    fn in_stock_instead(&self, p: &crate::catalog::Product, vocab: &vocab::Vocab) -> Vec<Arc<crate::catalog::Product>> {
        let designs = vocab.variants(&p.id).into_iter().filter_map(|id| self.catalog.get(&id));
        let mut seen = std::collections::HashSet::from([p.title.to_lowercase()]);
        designs
            .chain(self.similar_products(p).into_iter().map(|(q, _)| q))
            .filter(|q| self.offerable(q) && seen.insert(q.title.to_lowercase()))
            .take(self.cards)
            .collect()
    }

    /// What shoppers bought with a product, its own designs left out (one per title).
    fn goes_with(&self, p: &crate::catalog::Product, vocab: &vocab::Vocab) -> Vec<Arc<crate::catalog::Product>> {
        let family: std::collections::HashSet<String> = vocab.variants(&p.id).into_iter().collect();
        let mut seen = std::collections::HashSet::from([p.title.to_lowercase()]);
        let behavior = self.behavior.get();
        behavior
            .neighbours(&p.id)
            .filter(|(id, _)| !family.contains(*id))
            .filter_map(|(id, _)| self.catalog.get(id))
            .filter(|q| self.offerable(q))
            .filter(|q| seen.insert(q.title.to_lowercase()))
            .take(self.cards)
            .collect()
    }

    /// Products like this one, each with whether shoppers bought it with this one: the recommender's similar
    /// items, else (a product it has not learned yet) the nearest by meaning; the product's own title never.
    fn similar_products(&self, p: &crate::catalog::Product) -> Vec<(Arc<crate::catalog::Product>, bool)> {
        let served = self.recommender.current();
        // more than a row: some may be out of stock
        let n = self.cards * 3;
        let found: Vec<_> = served
            .similar(&self.catalog, &p.id, n, &self.rules)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| Some((self.catalog.get(&r.id)?, r.contributions.history > 0.0)))
            .collect();
        if !found.is_empty() {
            return found;
        }
        let near = self.search.vector_of(&p.id).map(|v| self.search.exact_vector_search(&v, n + 1));
        near.unwrap_or_default()
            .into_iter()
            .filter(|(id, _)| *id != p.id)
            .filter_map(|(id, _)| self.catalog.get(&id))
            .filter(|q| q.title != p.title && self.rules.allows(q))
            .map(|q| (q, false))
            .collect()
    }

    /// The product a question is about: the one pointed at ("the second one"), the one of the cards shown that
    /// has the attribute said ("the red one"), the one talked about when the message says "it", else the one the
    /// message names.
    fn target(
        &self,
        text: &str,
        u: &Understanding,
        slots: &Slots,
        vocab: &vocab::Vocab,
    ) -> Option<Arc<crate::catalog::Product>> {
        let shown: Vec<Arc<crate::catalog::Product>> =
            slots.shown.iter().filter_map(|id| self.catalog.get(id)).collect();
        if let Some(&i) = tools::pointed_at(text, slots.shown.len()).first() {
            return self.catalog.get(&slots.shown[i]);
        }
        let toks = tools::tokens(text);
        if toks.iter().any(|t| t == "one" || t == "ones") {
            for a in u.words.iter().filter(|w| vocab.is_attribute(w)) {
                let with =
                    shown.iter().find(|p| tools::tokens(&p.title).iter().any(|t| vocab::norm(t) == vocab::norm(a)));
                if let Some(p) = with {
                    return Some(p.clone());
                }
            }
        }
        let pronoun =
            toks.iter().any(|t| matches!(t.as_str(), "it" | "its" | "this" | "these" | "those" | "them" | "they"))
                || toks.windows(2).any(|w| w[0] == "that" && w[1] == "one");
        let spoken_of = || slots.focus.as_ref().and_then(|id| self.catalog.get(id)).or_else(|| shown.first().cloned());
        if pronoun || u.words.iter().all(|w| vocab.is_attribute(w)) {
            if let Some(p) = spoken_of() {
                return Some(p);
            }
        }
        let named = (!u.words.is_empty())
            .then(|| tools::named(&self.search, &self.catalog, &u.words.join(" ")).into_iter().next())
            .flatten();
        named.or_else(|| if u.words.is_empty() { spoken_of() } else { None })
    }

    /// Whether the message's words are (near) words of product titles here: the best keyword hits' titles have a
    /// word within a typo of one of them.
    /// With `every`, all of the message's words must be (and at least one must be).
    pub(super) async fn names_products(&self, text: &str, every: bool) -> bool {
        let this = self.clone();
        let text = text.to_string();
        tokio::task::spawn_blocking(move || {
            // a service question is only taken for products by its own words ("shipping" is not "shopping")
            let words = if every {
                query::understand(&text).words
            } else {
                query::read(&text, &this.vocab.get(&this.catalog)).words
            };
            if words.is_empty() {
                return false;
            }
            let req =
                SearchRequest { text: words.join(" "), mode: Mode::Keyword, limit: 10, ..SearchRequest::default() };
            let hits = this.search.search(&req, &this.catalog, |_| 0).unwrap_or_default();
            let titles: Vec<Vec<String>> =
                hits.iter().filter_map(|h| this.catalog.get(&h.id)).map(|p| tools::tokens(&p.title)).collect();
            let in_a_title = |w: &String| {
                titles
                    .iter()
                    .any(|title| title.iter().any(|t| t == w || tools::near(t, w) || vocab::norm(t) == vocab::norm(w)))
            };
            if every {
                words.iter().all(in_a_title)
            } else {
                words.iter().any(in_a_title)
            }
        })
        .await
        .unwrap_or(false)
    }

    /// The signed-in shopper's latest order, item by item (never another shopper's).
    fn past_order(&self, customer: Option<&str>, ask: query::Ask) -> tools::Listing {
        let tool = if ask == query::Ask::Reorder { "reorder" } else { "past_orders" };
        let Some(c) = customer else { return tools::Listing { tool, ..Default::default() } };
        let found = crate::service::last_order(&self.store, c).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading the shopper's last order failed");
            None
        });
        let Some((order, lines)) = found else {
            return tools::Listing { tool, signed_in: true, ..Default::default() };
        };
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<_> = lines.iter().filter(|l| seen.insert(l.product.clone())).collect();
        let more = distinct.len().saturating_sub(LISTED);
        let items = distinct
            .into_iter()
            .take(LISTED)
            .map(|l| {
                let mut f = match self.catalog.get(&l.product) {
                    Some(p) => tools::facts(&p, self.behavior.get().popularity(&p.id)),
                    None => tools::facts(&crate::catalog::Product::titled(&l.product, &l.title), 0),
                };
                f.quantity = Some(l.quantity);
                tools::Item {
                    facts: f,
                    reason: self.phrases.say("in_order", &[("number", &order.number), ("date", &order.date)]),
                }
            })
            .collect();
        tools::Listing { tool, items, signed_in: true, order: Some(order), more, ..Default::default() }
    }
}
