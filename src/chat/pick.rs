//! Choosing the products for a message before any words are written: the typed request searched, the hard
//! constraints held, the rest ranked (and the cards made from the picks).
use super::*;

impl Assistant {
    /// Search and rank (blocking work: call it from `spawn_blocking`).
    pub fn plan(&self, text: &str, customer: Option<&str>, slots: &Slots) -> Plan {
        let vocab = self.vocab.get(&self.catalog);
        let mut u = query::follow_up(slots, text, &vocab);
        // the message as typed (price phrases out) reads best to the embedding model and its vector is already
        // cached from the intent classifier; unless it says what is not wanted, was misspelt or tells the
        // assistant what to say: then the request's own text
        let own_words = !query::understand(text).words.is_empty();
        let plain_text = u.excluded.is_empty() && !u.corrected && query::without_instructions(text) == text;
        if own_words && plain_text {
            u.semantic = query::without_prices(text);
        }
        if self.reading == Reading::Plain {
            let semantic = if query::understand(text).words.is_empty() {
                slots.request.words.join(" ")
            } else {
                query::without_prices(text)
            };
            u = u.plain();
            u.semantic = semantic;
        }
        let (picks, sold_out) = self.pick_all(&u, customer);
        u.emptied = if picks.is_empty() && !u.words.is_empty() {
            u.constraints().into_iter().find(|c| !self.pick(&u.without(c), customer).is_empty())
        } else {
            None
        };
        // the quick reply is a yes to the offer: it drops that constraint and no other
        let emptied_by = u.emptied.as_ref().map(|c| (u.describe(c), self.phrases.say("show_anyway", &[])));
        Plan { understanding: u, picks, emptied_by, sold_out }
    }

    /// Whether a product is described by a word or phrase: its stems are all in the title, category, tags or
    /// attribute values (or a synonym's are), or, for a long word, the title has it run together ("polka dot" in
    /// "POLKADOT").
    pub(super) fn describes(
        &self,
        p: &crate::catalog::Product,
        stems: &std::collections::HashSet<String>,
        phrase: &str,
    ) -> bool {
        let kw = &self.search.keyword;
        let has = |w: &str| {
            let s = kw.analyze(w);
            !s.is_empty() && s.iter().all(|x| stems.contains(x))
        };
        if has(phrase) || self.search.synonyms.of(phrase).iter().any(|syn| has(syn)) {
            return true;
        }
        let compact: String = kw.analyze(phrase).concat();
        compact.chars().count() >= 6 && {
            let title: String = p.title.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
            title.contains(&compact)
        }
    }

    /// Whether a product meets the request's hard constraints (price is the ranker's): every attribute, the
    /// count, none of the exclusions.
    pub fn satisfies(&self, p: &crate::catalog::Product, u: &Understanding) -> bool {
        if u.attributes.is_empty() && u.excluded.is_empty() && u.count.is_none() {
            return true;
        }
        let text = format!(
            "{} {} {} {}",
            p.title,
            p.category,
            p.tags.join(" "),
            p.attributes.values().cloned().collect::<Vec<_>>().join(" ")
        );
        let stems: std::collections::HashSet<String> = self.search.keyword.analyze(&text).into_iter().collect();
        u.attributes.iter().all(|a| self.describes(p, &stems, a))
            && !u.excluded.iter().any(|e| self.describes(p, &stems, e))
            && u.count.is_none_or(|n| tools::comes_in(&p.title, n))
    }

    /// Whether some product's title, category or tags has one of these words (`all`: every one of them).
    pub(super) fn has_kind(&self, kind: &[&String], all: bool) -> bool {
        let words: Vec<String> = kind.iter().map(|w| w.to_string()).collect();
        let req = SearchRequest { text: words.join(" "), mode: Mode::Keyword, limit: 20, ..SearchRequest::default() };
        let hits = self.search.search(&req, &self.catalog, |_| 0).unwrap_or_default();
        hits.iter().filter_map(|h| self.catalog.get(&h.id)).any(|p| {
            let matched = self.search.keyword.matched_words(&words, &p).len();
            if all {
                matched == words.len()
            } else {
                matched > 0
            }
        })
    }

    pub(super) fn pick(&self, u: &Understanding, customer: Option<&str>) -> Vec<Pick> {
        self.pick_all(u, customer).0
    }

    /// The picks, and the products out of stock that the search found among the best matches for the words said
    /// (the reply names them; they are never offered).
    pub(super) fn pick_all(
        &self,
        u: &Understanding,
        customer: Option<&str>,
    ) -> (Vec<Pick>, Vec<Arc<crate::catalog::Product>>) {
        let hits = self.matching(u);
        let mut sold_out = self.sold_out(&hits);
        let hits: Vec<_> =
            hits.into_iter().filter(|h| self.catalog.get(&h.id).is_some_and(|p| self.offerable(&p))).collect();
        let personal = match customer {
            Some(c) => {
                let served = self.recommender.current();
                // a history that cannot be read is logged; the answer comes without personal ranking
                let history = self.recommender.history(&self.store, c).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "a customer's history could not be read; ranking without it");
                    vec![]
                });
                let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
                served.personal(Some(c), &history, &ids)
            }
            None => Default::default(),
        };
        let behavior = self.behavior.get();
        let ranker = Ranker { catalog: &self.catalog, behavior: &behavior, blend: self.blend, personal: &personal };
        let limits = Limits { max_price: u.max_price, min_price: u.min_price };
        let matched = |p: &crate::catalog::Product| self.search.keyword.matched_words(&u.words, p);
        let mut candidates = ranker.candidates(&hits, &u.words, customer, limits, matched);
        // browsing (no words) draws from history and popularity: the hard constraints and the stock hold there too
        candidates.retain(|c| self.offerable(&c.product) && self.satisfies(&c.product, u));
        // the shop's favoured categories rank higher
        if !self.rules.boost.is_empty() {
            for c in &mut candidates {
                c.why.boost = self.rules.bonus(&c.product);
            }
        }
        if self.reading == Reading::Plain {
            return (ranker.order(candidates, self.cards), sold_out);
        }
        self.keep_kind(u, &mut candidates);
        let ordered = ranker.order_request(candidates, usize::MAX, u.sort);
        // a product a card already shows in another design is not offered twice
        let vocab = self.vocab.get(&self.catalog);
        let picks = diverse(ordered, self.cards, |p| vocab.variants(&p.product.id));
        sold_out.retain(|p| !picks.iter().any(|k| k.product.title.eq_ignore_ascii_case(&p.title)));
        (picks, sold_out)
    }

    /// The search hits for a request that the shop's rules allow and that meet its hard constraints (a product
    /// only the semantic side found must be close in meaning, or a card would claim a match it lacks).
    fn matching(&self, u: &Understanding) -> Vec<crate::search::Hit> {
        let hard = !u.attributes.is_empty() || !u.excluded.is_empty() || u.count.is_some() || u.sort.is_some();
        let req = SearchRequest {
            text: u.words.join(" "),
            // the whole request (price words and exclusions taken out) reads better to the embedding model than
            // its keywords (a follow-up such as "something cheaper" has no words of its own: the carried request
            // speaks for it)
            semantic_text: (!u.words.is_empty()).then(|| {
                if u.semantic.trim().is_empty() {
                    u.words.join(" ")
                } else {
                    u.semantic.clone()
                }
            }),
            filters: Filters { min_price: u.min_price, max_price: u.max_price, ..Filters::default() },
            mode: Mode::Hybrid,
            limit: if hard { 200 } else { 60 },
            ..SearchRequest::default()
        };
        let hits =
            self.search.search(&req, &self.catalog, |id| self.behavior.get().popularity(id)).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "search failed; answering from history and popularity");
                vec![]
            });
        hits.into_iter()
            .filter(|h| h.keyword.is_some() || h.semantic.is_some_and(|s| s.score >= MIN_SEMANTIC_ONLY))
            .filter(|h| self.catalog.get(&h.id).is_some_and(|p| self.rules.allows(&p) && self.satisfies(&p, u)))
            .collect()
    }

    /// Out of stock is never offered; the best keyword matches among them (two at most, one per title) are named
    /// in the reply.
    fn sold_out(&self, hits: &[crate::search::Hit]) -> Vec<Arc<crate::catalog::Product>> {
        let mut sold_out: Vec<Arc<crate::catalog::Product>> = vec![];
        let mut titles = std::collections::HashSet::new();
        for h in hits.iter().take(self.cards).filter(|h| h.keyword.is_some()) {
            let Some(p) = self.catalog.get(&h.id).filter(|p| !available(p)) else { continue };
            if sold_out.len() < 2 && titles.insert(p.title.to_lowercase()) {
                sold_out.push(p);
            }
        }
        sold_out
    }

    /// The kind of product asked for: when some candidates are of it (they match a wanted word that is not a
    /// design or an occasion), the others are other products ("any in green?" after alarm clocks).
    fn keep_kind(&self, u: &Understanding, candidates: &mut Vec<Pick>) {
        if self.reading != Reading::Full {
            return;
        }
        let kind: Vec<&String> =
            u.words.iter().filter(|w| !u.attributes.contains(w) && !u.occasion.contains(w)).collect();
        let covered = |c: &Pick| c.why.matched.iter().filter(|m| kind.contains(m)).count();
        if !kind.is_empty() && candidates.iter().any(|c| covered(c) > 0) {
            // products that are all of what was asked ("cake stand", not "cake tin") when there are a few
            let full: std::collections::HashSet<String> = candidates
                .iter()
                .filter(|c| covered(c) == kind.len())
                .map(|c| c.product.title.to_lowercase())
                .collect();
            if full.len() >= 2 {
                candidates.retain(|c| covered(c) == kind.len());
            } else {
                // else at least the head of what was asked (the last word: "fairy *lights*", "tea *towels*")
                let head = kind[kind.len() - 1];
                let has_head = |c: &Pick| c.why.matched.iter().any(|m| m == head);
                if candidates.iter().any(has_head) {
                    candidates.retain(has_head);
                } else {
                    candidates.retain(|c| covered(c) >= 1);
                }
            }
        } else if !kind.is_empty() && !candidates.is_empty() && self.has_kind(&kind, false) {
            // none of the products inside the limits is of the kind asked for, but the shop has some: say so
            // (and which limit emptied the shelf) rather than show other products
            candidates.clear();
        }
        if kind.len() >= 2 && candidates.iter().all(|c| covered(c) < kind.len()) && self.has_kind(&kind, true) {
            // the same for all of it ("jumbo bags" cheaper than any jumbo bag: not other bags)
            candidates.clear();
        }
    }

    pub fn card(&self, pick: &Pick) -> Card {
        let p = &pick.product;
        let reason = self
            .prompts
            .render("card_reason.j2", serde_json::json!({ "why": &pick.why, "price": p.price.map(format_price), "max_price_label": pick.why.max_price.map(budget_label) }))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "card reason template failed");
                String::new()
            });
        Card {
            id: p.id.clone(),
            title: p.title.clone(),
            price: p.price,
            price_label: p.price_label(),
            reason: reason.trim().to_string(),
            why: serde_json::to_value::<&Explanation>(&pick.why).unwrap_or_default(),
            in_stock: p.stock.map(|s| s > 0),
            image: p.images.first().cloned(),
            url: (!p.url.is_empty()).then(|| p.url.clone()),
            options: self.options(p),
        }
    }

    /// The variants of a product's declared family for its card's picker (none for a product alone): this one
    /// first, then the others by label; a variant the shop's rules exclude is left out, one out of stock is
    /// listed as such (the widget does not let it be added).
    pub(super) fn options(&self, p: &crate::catalog::Product) -> Vec<CardOption> {
        if p.family.is_empty() {
            return vec![];
        }
        let vocab = self.vocab.get(&self.catalog);
        let others = vocab.variants(&p.id).into_iter().filter_map(|id| self.catalog.get(&id));
        let others: Vec<_> =
            others.filter(|q| q.family == p.family && self.rules.allows(q)).take(MAX_OPTIONS).collect();
        if others.is_empty() {
            return vec![];
        }
        let members: Vec<&crate::catalog::Product> = std::iter::once(p).chain(others.iter().map(|q| &**q)).collect();
        // the attributes whose values tell the members apart
        let keys: std::collections::BTreeSet<&String> = members.iter().flat_map(|m| m.attributes.keys()).collect();
        let differing: Vec<&String> = keys
            .into_iter()
            .filter(|k| {
                let values: std::collections::HashSet<Option<&String>> =
                    members.iter().map(|m| m.attributes.get(*k)).collect();
                values.len() > 1
            })
            .collect();
        let label = |m: &crate::catalog::Product| {
            let parts: Vec<&str> = differing
                .iter()
                .filter_map(|k| m.attributes.get(*k))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .collect();
            if parts.is_empty() {
                m.title.clone()
            } else {
                parts.join(" / ")
            }
        };
        let option = |m: &crate::catalog::Product| CardOption {
            id: m.id.clone(),
            label: label(m),
            price: m.price,
            price_label: m.price_label(),
            in_stock: m.stock.map(|s| s > 0),
            image: m.images.first().cloned(),
            url: (!m.url.is_empty()).then(|| m.url.clone()),
        };
        let mut rest: Vec<CardOption> = members[1..].iter().map(|m| option(m)).collect();
        rest.sort_by(|a, b| a.label.cmp(&b.label).then(a.id.cmp(&b.id)));
        std::iter::once(option(p)).chain(rest).collect()
    }
}

/// Most variants a card's picker lists.
const MAX_OPTIONS: usize = 20;

/// At most `n` picks in their order, skipping a pick whose product family (its other designs, `variants`) a
/// pick before it already shows; when too few families are left, the skipped ones fill the row in their order.
pub fn diverse(ordered: Vec<Pick>, n: usize, variants: impl Fn(&Pick) -> Vec<String>) -> Vec<Pick> {
    let mut shown: std::collections::HashSet<String> = Default::default();
    let (mut keep, mut skipped) = (vec![], vec![]);
    for (i, p) in ordered.into_iter().enumerate() {
        if keep.len() >= n {
            break;
        }
        let family = variants(&p);
        if family.iter().any(|id| shown.contains(id)) {
            skipped.push((i, p));
            continue;
        }
        shown.insert(p.product.id.clone());
        keep.push((i, p));
    }
    let missing = n.saturating_sub(keep.len());
    keep.extend(skipped.into_iter().take(missing));
    keep.sort_by_key(|(i, _)| *i);
    keep.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(id: &str) -> Pick {
        Pick { product: crate::catalog::Product::titled(id, id), score: 0.0, why: Default::default() }
    }

    #[test]
    fn a_row_shows_one_design_per_family_and_fills_with_the_others_only_when_families_run_out() {
        // a1, a2, a3 are one family; b1 and c1 are others
        let family = |p: &Pick| -> Vec<String> {
            let id = &p.product.id;
            ["a1", "a2", "a3"].iter().filter(|x| *x != id && id.starts_with('a')).map(|x| x.to_string()).collect()
        };
        let ids = |v: Vec<Pick>| v.into_iter().map(|p| p.product.id).collect::<Vec<_>>();
        let ordered = || ["a1", "a2", "b1", "a3", "c1"].map(pick).to_vec();
        assert_eq!(ids(diverse(ordered(), 3, family)), ["a1", "b1", "c1"]);
        // two families for three cards: the best skipped design fills in, in its place
        let two = ["a1", "a2", "b1", "a3"].map(pick).to_vec();
        assert_eq!(ids(diverse(two, 3, family)), ["a1", "a2", "b1"]);
        assert_eq!(ids(diverse(ordered(), 1, family)), ["a1"]);
    }
}
