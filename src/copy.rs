//! Marketing copy for one product from a template in `prompts/copy/`, written by the model from the product's
//! facts and checked like a chat reply; what fails the check falls back to the template's plain version.
use crate::catalog::format_price;
use crate::chat::{speak, Assistant, TurnFrame, Verdict};
use crate::llm::{GenParams, Message};
use serde::Deserialize;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Deserialize)]
pub struct CopyRequest {
    pub product: String,
    /// Template name under `prompts/copy/` without `.j2`. Default `product_description`.
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub tone: Option<String>,
    #[serde(default)]
    pub length: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("no product with id {0:?}")]
    UnknownProduct(String),
    #[error("no copy template named {0:?}")]
    UnknownTemplate(String),
}

/// The templates a marketer can pick (`prompts/copy/*.j2`, fallbacks excluded).
pub fn templates(a: &Assistant) -> Vec<String> {
    a.prompts
        .names_under("copy/")
        .into_iter()
        .filter(|n| n.ends_with(".j2") && !n.ends_with(".fallback.j2"))
        .map(|n| n.trim_start_matches("copy/").trim_end_matches(".j2").to_string())
        .collect()
}

/// Writes one variant, streaming frames to `out`; returns the text shown and the check's verdict.
pub async fn generate(
    a: &Assistant,
    req: &CopyRequest,
    out: &mpsc::Sender<TurnFrame>,
) -> Result<(String, Verdict), CopyError> {
    let product = a.catalog.get(&req.product).ok_or_else(|| CopyError::UnknownProduct(req.product.clone()))?.clone();
    let name = req.template.clone().unwrap_or_else(|| "product_description".into());
    let (main, plain) = (format!("copy/{name}.j2"), format!("copy/{name}.fallback.j2"));
    if !templates(a).contains(&name) {
        return Err(CopyError::UnknownTemplate(name));
    }
    let price = product.price_label();
    let ctx = |part: &str| serde_json::json!({ "part": part, "product": &*product, "price": &price, "shop": &a.shop_name, "tone": req.tone.as_deref().unwrap_or("friendly"), "length": req.length.as_deref().unwrap_or("short") });
    let messages = a.prompts.render(&main, ctx("system")).and_then(|system| {
        let user = a.prompts.render(&main, ctx("user"))?;
        Ok(vec![Message::system(system.trim()), Message::user(user.trim())])
    });
    let fallback = if a.prompts.has(&plain) {
        a.prompts.render(&plain, ctx("plain")).map(|s| s.trim().to_string()).unwrap_or_else(|_| product.title.clone())
    } else {
        format!("{} - {}.", product.title, price)
    };
    let mut facts = a.facts("", &[]);
    facts.allow_product(&product.title);
    facts.allow_text(&product.description);
    facts.allow_text(&product.category);
    facts.allow_text(&product.brand);
    if let Some(p) = product.price {
        facts.allow_number(&format!("{p:.2}"));
        facts.allow_text(&format_price(p));
    }
    let gen = GenParams { max_tokens: 120, ..a.gen };
    let (text, verdict, _) = speak(a.llm.as_ref(), gen, messages, &facts, fallback, out).await;
    let _ = out.send(TurnFrame::Done { verdict: verdict.clone(), intent: None, handoff: false }).await;
    Ok((text, verdict))
}
