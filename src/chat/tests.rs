use super::*;
use crate::intent::Prediction;
use crate::llm::fake::{FakeLlm, Reply};

async fn speak_with(model: FakeLlm, budget_ms: Option<u64>) -> (String, Verdict, Vec<TurnFrame>) {
    let mut facts = Facts::new(Arc::new(NameIndex::new(["RED HEART MUG"])));
    facts.allow_text("here are some mugs you may like");
    let (tx, mut rx) = mpsc::channel(64);
    let messages: Result<Vec<Message>, String> = Ok(vec![Message::user("mugs".to_string())]);
    let budget = budget_ms.map(std::time::Duration::from_millis);
    let fallback = "Here are some mugs.".to_string();
    let (text, verdict, _) = speak(&model, GenParams::default(), messages, &facts, fallback, &tx, budget).await;
    drop(tx);
    let mut frames = vec![];
    while let Some(f) = rx.recv().await {
        frames.push(f);
    }
    (text, verdict, frames)
}

#[tokio::test]
async fn a_reply_past_its_time_budget_is_completed_by_the_template() {
    let words = "Here are some mugs you may like.";
    // 150 ms a word, 7 words: about a second; the budget is 300 ms after the first word
    let started = std::time::Instant::now();
    let (text, verdict, frames) = speak_with(FakeLlm::new([Reply::slow(words, 150)]), Some(300)).await;
    assert!(started.elapsed() < std::time::Duration::from_millis(800), "cut at the budget: {:?}", started.elapsed());
    assert_eq!(text, "Here are some mugs.");
    assert!(!verdict.passed && verdict.reason.as_deref().is_some_and(|r| r.starts_with(BUDGET_REASON)), "{verdict:?}");
    assert!(
        matches!(frames.last(), Some(TurnFrame::Replace { text }) if text == "Here are some mugs."),
        "the words shown so far are completed by the template: {frames:?}"
    );
    // the same model with time to spare, or with no budget, keeps its own words
    let (text, verdict, _) = speak_with(FakeLlm::new([Reply::slow(words, 10)]), Some(3000)).await;
    assert!(verdict.passed, "{verdict:?}");
    assert_eq!(text, "Here are some mugs you may like.");
    let (_, verdict, _) = speak_with(FakeLlm::new([Reply::slow(words, 150)]), None).await;
    assert!(verdict.passed, "{verdict:?}");
}

fn p(intent: &str, confidence: f32, by_llm: bool) -> Prediction {
    Prediction { intent: intent.into(), confidence, service: 0.0, top: vec![], by_llm }
}

#[test]
fn an_unsure_intent_is_shopping_unless_the_model_chose_it() {
    assert_eq!(route("I want my money back", Some(&p("get_refund", 0.3, false))), Route::Shop);
    assert_eq!(route("I want my money back", Some(&p("get_refund", 0.3, true))), Route::Policy("get_refund".into()));
    assert_eq!(route("hello", Some(&p("chit_chat", 0.4, true))), Route::Greeting);
    assert_eq!(route("where is it", Some(&p("track_order", 0.9, false))), Route::Order);
}

#[test]
fn an_order_number_with_an_order_intent_among_the_three_best_goes_to_the_order_tool() {
    let unsure = Prediction {
        top: vec![("place_order".into(), 0.41), ("track_order".into(), 0.3), ("cancel_order".into(), 0.1)],
        ..p("place_order", 0.41, false)
    };
    assert_eq!(route("where is order 536999?", Some(&unsure)), Route::Order);
    assert_ne!(route("where is the order form?", Some(&unsure)), Route::Order, "no number: not enough");
    let no_order_intent = Prediction { top: vec![("place_order".into(), 0.41)], ..unsure.clone() };
    assert_ne!(route("where is order 536999?", Some(&no_order_intent)), Route::Order);
}

fn project_prompts() -> crate::prompts::Templates {
    crate::prompts::Templates::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts"), false).unwrap()
}

#[test]
fn chips_follow_the_tool_and_the_cards() {
    let p = Phrases::load(&project_prompts()).unwrap();
    assert!(p.chips("search", 3).iter().any(|c| c.contains("Compare")));
    assert!(!p.chips("search", 1).iter().any(|c| c.contains("Compare")), "one card cannot be compared");
    assert!(p.chips("handoff", 0).is_empty());
    assert_eq!(p.say("variant", &[("title", "Red Mug")]), "Another design of the Red Mug.");
}

/// Every language has every template, chip and sentence English has (a missing one would answer in English).
#[test]
fn every_language_has_every_reply_template_chip_and_phrase() {
    let t = project_prompts();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let langs =
        crate::lang::Languages::load(&root.join("prompts"), &root.join("data/policies"), &root.join("none")).unwrap();
    let english: Vec<String> =
        ["card_reason.j2", "reply_fallback.j2", "chat_system.j2", "chat_turn.j2", "chat_prefill.j2"]
            .iter()
            .map(|s| s.to_string())
            .chain(t.names_under("service/"))
            .collect();
    let en: toml::Table = toml::from_str(&t.source("phrases.toml").unwrap()).unwrap();
    for code in langs.codes().into_iter().filter(|c| c != "en") {
        let local = t.localized(&code);
        for name in &english {
            assert!(local.source(name) != t.source(name), "{code} has no {name} of its own");
        }
        let own: toml::Table = toml::from_str(&local.source("phrases.toml").unwrap()).unwrap();
        for table in ["chips", "text", "widget"] {
            let keys = |t: &toml::Table| -> Vec<String> {
                let mut k: Vec<String> = t[table].as_table().unwrap().keys().cloned().collect();
                k.sort();
                k
            };
            assert_eq!(keys(&own), keys(&en), "{code}: phrases.toml [{table}]");
        }
        let policies = langs.get(&code).unwrap().policies.as_ref().expect("policies in the language");
        let english = crate::service::Policies::load(&root.join("data/policies")).unwrap();
        let intents = |p: &crate::service::Policies| p.sections.iter().map(|s| s.intents.clone()).collect::<Vec<_>>();
        assert_eq!(intents(policies), intents(&english), "{code}: the same sections in the same order");
    }
}

/// Every chip of every language is read into a request that the chat answers as the chip means.
#[test]
fn chinese_chips_read_into_the_requests_they_stand_for() {
    let t = project_prompts().localized("zh");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let langs =
        crate::lang::Languages::load(&root.join("prompts"), &root.join("data/policies"), &root.join("none")).unwrap();
    let reader = &langs.get("zh").unwrap().reader;
    let p = Phrases::load(&t).unwrap();
    let read = |s: &str| reader.read(s, &std::collections::HashSet::new(), "GBP").text;
    assert_eq!(read(&p.chips("search", 3)[0]), "cheaper");
    assert_eq!(read(&p.chips("search", 3)[1]), "compare the first two");
    assert_eq!(read(&p.chips("search", 3)[2]), "tell me more about the first one");
    assert_eq!(read(&p.chips("variants", 2)[0]), "how much is the first one?");
    assert_eq!(read(&p.chips("order", 0)[1]), "talk to a person");
    assert_eq!(read(&p.say("show_anyway", &[])), "yes show me those");
    let v = read(&p.chips("product_question", 1)[0]);
    assert!(query::understand(&v).ask == Some(query::Ask::Variants), "{v}: {:?}", query::understand(&v));
    assert!(query::understand(&read(&p.chips("product_question", 1)[1])).ask == Some(query::Ask::GoesWith));
}
