//! Where a message goes: the classifier's reading turned into a route (shop, order, policy, retrieval, handoff,
//! greeting, off-topic).
/// Where a message goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Shop,
    Order,
    Policy(String),
    /// A service question the classifier is unsure about: answered from the policy section closest in meaning.
    Retrieve,
    Handoff(String),
    Greeting,
    OffTopic,
}

impl Route {
    /// Answered as a customer-service request (order, policy, retrieval) or handed to a person.
    pub(crate) fn is_service(&self) -> bool {
        !matches!(self, Route::Shop | Route::Greeting | Route::OffTopic)
    }
}

pub(crate) fn route(text: &str, p: Option<&crate::intent::Prediction>) -> Route {
    use crate::service::{HANDOFF_INTENTS, ORDER_INTENTS, SHOPPING_INTENTS};
    let Some(p) = p else { return Route::Shop };
    let intent = p.intent.as_str();
    // an intent the model chose (among the classifier's best) is acted on like a confident one
    let p = &crate::intent::Prediction { confidence: if p.by_llm { 1.0 } else { p.confidence }, ..p.clone() };
    // an order number in the message is strong evidence: an order intent among the three best is enough then
    let order_in_top = p.top.iter().any(|(l, _)| ORDER_INTENTS.contains(&l.as_str()));
    let has_number = crate::service::order_number(text).is_some();
    if (ORDER_INTENTS.contains(&intent) && (p.confidence >= 0.5 || has_number)) || (has_number && order_in_top) {
        return Route::Order;
    }
    if p.confidence < 0.5 && p.service >= 0.6 {
        return Route::Retrieve;
    }
    if p.confidence < 0.5 || SHOPPING_INTENTS.contains(&intent) {
        return Route::Shop;
    }
    match intent {
        i if HANDOFF_INTENTS.contains(&i) => Route::Handoff(i.to_string()),
        "chit_chat" if p.confidence >= 0.6 => Route::Greeting,
        "other" if p.confidence >= 0.6 => Route::OffTopic,
        "chit_chat" | "other" => Route::Shop,
        i => Route::Policy(i.to_string()),
    }
}
