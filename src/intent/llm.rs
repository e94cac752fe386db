//! When the classifier is unsure, the language model chooses among its three best intents, constrained by a
//! grammar to answer `{"intent": "<one of them>"}`: it can only pick, never invent a label.
use crate::llm::{GenParams, Generate, LlmError, Message, Output};

/// Below this classifier confidence the model is asked.
pub const ASK_BELOW: f32 = 0.5;

/// GBNF for `{"intent": "<candidate>"}`.
pub fn grammar(candidates: &[String]) -> String {
    let alts: Vec<String> = candidates.iter().map(|c| format!("\"{}\"", c.replace(['\\', '"'], ""))).collect();
    format!("root ::= \"{{\\\"intent\\\": \\\"\" choice \"\\\"}}\"\nchoice ::= {}\n", alts.join(" | "))
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
    let params = GenParams { max_tokens: 32, temperature: 0.0, seed: 0 };
    let mut rx = llm.generate_constrained(messages, params, grammar(candidates))?;
    let mut out = String::new();
    while let Some(o) = rx.recv().await {
        if let Output::Text(t) = o {
            out.push_str(&t);
        }
    }
    let chosen = serde_json::from_str::<serde_json::Value>(&out)
        .ok()
        .and_then(|v| v["intent"].as_str().map(str::to_string))
        .filter(|c| candidates.contains(c));
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_names_each_candidate_once() {
        let g = grammar(&["track_order".into(), "get_refund".into()]);
        assert_eq!(
            g,
            "root ::= \"{\\\"intent\\\": \\\"\" choice \"\\\"}\"\nchoice ::= \"track_order\" | \"get_refund\"\n"
        );
    }
}
