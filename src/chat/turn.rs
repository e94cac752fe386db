//! One turn: the message classified and routed, then answered by a shopping tool, a service answer or the
//! search, with the model's words checked against the facts.
use super::*;

impl Assistant {
    /// Runs a turn, sending frames as they are ready. Dropping the future cancels the generation.
    pub async fn turn(
        &self,
        text: &str,
        customer: Option<&str>,
        slots: &Slots,
        out: &mpsc::Sender<TurnFrame>,
    ) -> TurnResult {
        // a message in another language is read into English first; the tools and the reader work on that
        let pivot = self.pivot(text);
        let text = pivot.as_ref().map_or(text, |p| p.text.as_str());
        // a budget in money the shop does not take ("under $10" in a pound shop) is not applied as the shop's
        // money: the price words are left out and the reply says why (a Chinese message's reader does the same)
        let foreign = match &pivot {
            Some(p) => p.foreign_budget.clone(),
            None => query::foreign_currency(text, &self.currency).map(str::to_string),
        };
        let unpriced = (pivot.is_none() && foreign.is_some()).then(|| query::without_prices(text));
        let text = unpriced.as_deref().unwrap_or(text);
        // instructions to the assistant inside the message do not steer the classifier either
        // a message read from another language goes to the head trained on such readings
        let intent = self.classify(&query::without_instructions(text), pivot.is_some()).await;
        let mut r = route(text, intent.as_ref());
        if r == Route::Shop && self.reading == Reading::Full && query::asks_service(text) {
            // "how do I return a toy?": a service question the classifier took for shopping; the policy section
            // closest in meaning answers it
            r = Route::Retrieve;
        }
        if self.reading == Reading::Full && r != Route::Shop && r != Route::Order && !matches!(r, Route::Handoff(_)) {
            let refines =
                !slots.request.words.is_empty() && (query::understand(text).refines() || query::relaxes(text));
            let chat = matches!(r, Route::OffTopic | Route::Greeting);
            // words the classifier has never seen ("latnerns", "silver necklace") that are products of this shop,
            // misspelt or not; or a refinement of the request on the table ("without skulls")
            let products = (chat || !query::mentions_service(text)) && self.names_products(text, !chat).await;
            if refines || products {
                r = Route::Shop;
            }
        }
        let asked = if self.reading == Reading::Full { self.ask_tool(text, customer, slots).await } else { None };
        let tool = match asked {
            Some(t) => Some(t),
            None => self.shopping_tool(text, intent.as_ref(), &r, slots).await,
        };
        let mut result = match tool {
            Some(tool) => self.answer_with(tool, out).await,
            None if r != Route::Shop => self.serve(r, text, customer, out).await,
            None => self.shop(text, customer, slots, out).await,
        };
        if let Some(currency) = foreign.as_deref() {
            let note = self.foreign_budget(currency);
            let _ = out.send(TurnFrame::Delta { text: format!("\n\n{note}") }).await;
            result.text = format!("{}\n\n{note}", result.text);
        }
        let name = intent.as_ref().map(|p| p.intent.clone());
        let mut options = std::mem::take(&mut result.suggest);
        for c in self.phrases.chips(&result.tool, result.cards.len()) {
            if !options.contains(&c) {
                options.push(c);
            }
        }
        options.truncate(3);
        let _ = out.send(TurnFrame::Chips { options }).await;
        let done = TurnFrame::Done {
            verdict: result.verdict.clone(),
            intent: name,
            handoff: result.handoff,
            tool: result.tool.clone(),
        };
        let _ = out.send(done).await;
        result.intent = intent;
        result
    }

    /// A comparison or a product question, when the message asks for one and the products can be told.
    pub(super) async fn shopping_tool(
        &self,
        text: &str,
        intent: Option<&crate::intent::Prediction>,
        r: &Route,
        slots: &Slots,
    ) -> Option<ShoppingTool> {
        let sure = |name: &str| intent.is_some_and(|p| p.intent == name && p.confidence >= 0.5);
        // "cheaper?", "the most expensive ones": a refinement of the list, not a comparison of two on it
        let refinement =
            self.reading == Reading::Full && query::understand(text).refines() && !tools::asks_to_compare(text);
        let compare =
            !refinement && tools::is_comparison(text, *r == Route::Shop && sure("compare"), slots.shown.len());
        let about_shown = tools::asks_about_shown(text, slots.shown.len());
        let question = !compare && (about_shown || *r == Route::Shop && sure("product_question"));
        if !compare && !question {
            return None;
        }
        let this = self.clone();
        let (t, shown) = (text.to_string(), slots.shown.clone());
        tokio::task::spawn_blocking(move || {
            let pointed: Vec<Arc<crate::catalog::Product>> =
                tools::pointed_at(&t, shown.len()).into_iter().filter_map(|i| this.catalog.get(&shown[i])).collect();
            let named = if pointed.is_empty() { tools::named(&this.search, &this.catalog, &t) } else { vec![] };
            let from_shown: Vec<_> = shown.iter().filter_map(|id| this.catalog.get(id)).collect();
            let facts = |p: &crate::catalog::Product| tools::facts(p, this.behavior.get().popularity(&p.id));
            if compare {
                // "compare them" with nothing named: the first two shown (one named product is not a comparison)
                let list = if pointed.len() >= 2 {
                    pointed
                } else if named.len() >= 2 {
                    named
                } else if named.is_empty() && from_shown.len() >= 2 {
                    from_shown[..2].to_vec()
                } else {
                    vec![]
                };
                (list.len() >= 2).then(|| ShoppingTool::Compare(list.iter().map(|p| facts(p)).collect()))
            } else {
                let p = pointed.first().or(named.first()).or(if about_shown { from_shown.first() } else { None })?;
                Some(ShoppingTool::Question(tools::answer(p, this.behavior.get().popularity(&p.id), &t)))
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Answers a comparison or a product question from the catalog (template words; the facts are the answer).
    pub(super) async fn answer_with(&self, tool: ShoppingTool, out: &mpsc::Sender<TurnFrame>) -> TurnResult {
        let card = |f: &tools::Facts, reason: &str| Card {
            id: f.id.clone(),
            title: f.title.clone(),
            price: f.price,
            price_label: f.price_label.clone(),
            reason: reason.into(),
            why: serde_json::Value::Null,
            in_stock: f.in_stock,
            image: f.image.clone(),
            url: f.url.clone(),
            // a product with variants keeps its picker, whichever tool shows it
            options: self.catalog.get(&f.id).map(|p| self.options(&p)).unwrap_or_default(),
        };
        let (name, template, ctx, cards, focus) = match &tool {
            ShoppingTool::Compare(list) => {
                let c = tools::compare(list);
                let reason = self.phrases.say("compared", &[]);
                let cards: Vec<Card> = list.iter().map(|f| card(f, &reason)).collect();
                ("compare", "service/compare.j2", serde_json::json!({ "comparison": &c }), cards, None)
            }
            ShoppingTool::Question(a) => {
                let name = match a.ask {
                    Some(query::Ask::Price) => "price",
                    Some(query::Ask::Stock) => "stock",
                    _ => "product_question",
                };
                let asked = self.phrases.say("asked", &[]);
                let cards = a.product.iter().map(|f| card(f, &asked));
                let cards = cards.chain(a.alternatives.iter().map(|i| card(&i.facts, &i.reason))).collect();
                let focus = a.product.as_ref().map(|f| f.id.clone());
                (name, "service/product_answer.j2", serde_json::json!({ "answer": a }), cards, focus)
            }
            ShoppingTool::List(l) => {
                let cards = l.items.iter().map(|i| card(&i.facts, &i.reason)).collect();
                let focus = l.about.as_ref().map(|f| f.id.clone());
                (l.tool, "service/listing.j2", serde_json::json!({ "list": l }), cards, focus)
            }
        };
        let _ = out.send(TurnFrame::Cards { products: cards.clone() }).await;
        let text = self.prompts.render(template, ctx).map(|s| s.trim().to_string()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "tool template failed");
            self.phrases.say("tool_failed", &[])
        });
        let _ = out.send(TurnFrame::Delta { text: text.clone() }).await;
        TurnResult {
            text,
            cards,
            verdict: Verdict {
                passed: false,
                reason: Some(format!("answered from the {} tool", name.replace('_', " "))),
            },
            understanding: Understanding::default(),
            stats: None,
            intent: None,
            handoff: false,
            tool: name.into(),
            focus,
            suggest: vec![],
        }
    }

    /// "Sorry, the Red Paper Lantern is out of stock at the moment; these are in stock:" (None when nothing asked
    /// for is sold out).
    pub(super) fn sold_out_note(
        &self,
        sold_out: &[Arc<crate::catalog::Product>],
        alternatives: bool,
    ) -> Option<String> {
        let titles: Vec<String> = sold_out.iter().map(|p| crate::catalog::title_case(&p.title)).collect();
        let (first, rest) = titles.split_first()?;
        let key = match (rest.is_empty(), alternatives) {
            (true, true) => "sold_out_one",
            (true, false) => "sold_out_one_only",
            (false, true) => "sold_out_many",
            (false, false) => "sold_out_many_only",
        };
        let and = self.phrases.say("and", &[]);
        let titles = match rest.split_last() {
            None => first.clone(),
            Some((last, middle)) => {
                let head: Vec<&str> =
                    std::iter::once(first.as_str()).chain(middle.iter().map(String::as_str)).collect();
                format!("{} {and} {last}", head.join(", "))
            }
        };
        Some(self.phrases.say(key, &[("titles", &titles)]))
    }

    /// What the shopper is told when their budget is in a currency the shop does not sell in.
    pub(super) fn foreign_budget(&self, currency: &str) -> String {
        let name = |code: &str| self.phrases.get(&format!("currency_{code}")).unwrap_or(code).to_string();
        self.phrases.say("foreign_budget", &[("currency", &name(currency)), ("shop_currency", &name(&self.currency))])
    }

    /// A shopping turn: search, rank, cards, and the model's checked words.
    pub(super) async fn shop(
        &self,
        text: &str,
        customer: Option<&str>,
        slots: &Slots,
        out: &mpsc::Sender<TurnFrame>,
    ) -> TurnResult {
        let this = self.clone();
        let (t, c) = (text.to_string(), customer.map(str::to_string));
        let s = slots.clone();
        let plan = match tokio::task::spawn_blocking(move || this.plan(&t, c.as_deref(), &s)).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "planning task failed");
                Plan { understanding: query::understand(text), picks: vec![], emptied_by: None, sold_out: vec![] }
            }
        };
        let cards: Vec<Card> = plan.picks.iter().map(|p| self.card(p)).collect();
        let _ = out.send(TurnFrame::Cards { products: cards.clone() }).await;
        // what was asked for but is out of stock is said first, from the catalog (never left for the model)
        let sold_out = self.sold_out_note(&plan.sold_out, !cards.is_empty());
        if let Some(note) = &sold_out {
            let _ = out.send(TurnFrame::Delta { text: format!("{note} ") }).await;
        }
        let fallback = self.fallback(&plan.understanding, &cards, plan.emptied_by.as_ref().map(|e| e.0.as_str()));
        let (text_out, verdict, stats) = if let (true, Some(note)) = (cards.is_empty(), &sold_out) {
            // all that was asked for is out of stock: the note says so (and that nothing else matches)
            (note.clone(), Verdict { passed: false, reason: Some("asked for products out of stock".into()) }, None)
        } else if cards.is_empty() {
            // nothing to present: the model has no facts to speak from
            let _ = out.send(TurnFrame::Delta { text: fallback.clone() }).await;
            (fallback, Verdict { passed: false, reason: Some("no products matched".into()) }, None)
        } else if !self.model_speaks() {
            // the model is not trusted to write this language (`chat.model_languages`): the template speaks
            let _ = out.send(TurnFrame::Delta { text: fallback.clone() }).await;
            let reason = format!("{TEMPLATE_REASON}the model is not asked to write {}", self.lang());
            (fallback, Verdict { passed: false, reason: Some(reason) }, None)
        } else {
            let facts = self.facts(text, &cards);
            let budget = self.reply_budget;
            speak(self.llm.as_ref(), self.gen.clone(), self.messages(text, &cards), &facts, fallback, out, budget).await
        };
        let text_out = match sold_out {
            Some(note) if !cards.is_empty() => format!("{note} {text_out}"),
            _ => text_out,
        };
        TurnResult {
            text: text_out,
            cards,
            verdict,
            understanding: plan.understanding,
            stats,
            intent: None,
            handoff: false,
            tool: "search".into(),
            focus: None,
            suggest: plan.emptied_by.map(|e| vec![e.1]).unwrap_or_default(),
        }
    }
}
