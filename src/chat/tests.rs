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

#[test]
fn chips_follow_the_tool_and_the_cards() {
    assert!(chips("search", 3).iter().any(|c| c.contains("Compare")));
    assert!(!chips("search", 1).iter().any(|c| c.contains("Compare")), "one card cannot be compared");
    assert!(chips("handoff", 0).is_empty());
}
