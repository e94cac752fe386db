//! When the classifier is unsure, the language model chooses among its three best intents, constrained by a
//! JSON schema to answer `{"intent": "<one of them>"}`: it can only pick, never invent a label.
use crate::llm::{schema, GenParams, Generate, LlmError, Message};
use serde_json::{json, Value};

/// Below this classifier confidence the model is asked.
pub const ASK_BELOW: f32 = 0.5;

/// The answer's schema: `{"intent": "<candidate>"}`.
pub fn answer_schema(candidates: &[String]) -> Value {
    json!({
        "type": "object",
        "properties": {"intent": {"enum": candidates}},
        "required": ["intent"],
        "additionalProperties": false
    })
}

/// How an intent reads to the model.
pub fn describe(intent: &str) -> String {
    match intent {
        "search" => "looking for a product".into(),
        "recommend" => "wants product suggestions".into(),
        "compare" => "wants products compared".into(),
        "product_question" => "asks about a product's details".into(),
        "chit_chat" => "greeting or small talk".into(),
        "other" => "not about the shop".into(),
        i => i.replace('_', " "),
    }
}

/// The model's choice among `candidates` for `text`, or None when it answered nothing usable.
pub async fn choose(llm: &dyn Generate, text: &str, candidates: &[String]) -> Result<Option<String>, LlmError> {
    if candidates.len() < 2 {
        return Ok(candidates.first().cloned());
    }
    let list: Vec<String> = candidates.iter().map(|c| format!("- {c}: {}", describe(c))).collect();
    let messages = vec![
        Message::system("You sort the messages a shop's customers write. Answer with the intent that fits best."),
        Message::user(format!("Message: \"{}\"\nIntents:\n{}", text.replace('"', "'"), list.join("\n"))),
    ];
    let params = GenParams { max_tokens: 32, ..GenParams::default() };
    let chosen = match schema::generate_json(llm, messages, params, &answer_schema(candidates)).await {
        Ok(v) => v["intent"].as_str().map(str::to_string),
        // the schema was not followed (a server that ignores it): no choice, the classifier's stands
        Err(LlmError::Schema(why)) => {
            tracing::debug!(why, "intent choice unusable");
            None
        }
        Err(e) => return Err(e),
    };
    Ok(chosen.filter(|c| candidates.contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_can_only_name_a_candidate() {
        let s = answer_schema(&["track_order".into(), "get_refund".into()]);
        assert!(schema::validate(&json!({"intent": "get_refund"}), &s).is_ok());
        assert!(schema::validate(&json!({"intent": "cancel_order"}), &s).is_err());
        assert!(schema::validate(&json!({"intent": "get_refund", "x": 1}), &s).is_err());
        let g = schema::to_gbnf(&s).unwrap();
        assert!(g.contains("root-intent ::= (\"\\\"track_order\\\"\" | \"\\\"get_refund\\\"\")"), "{g}");
    }
}
