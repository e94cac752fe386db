//! The demo store page: a plain shop front with the chat widget embedded by one script tag, and a picker to
//! shop as a new visitor or as one of the demo shop's real customers.
use super::{render, AppState, HttpError};
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(store))
}

/// How long the demo page's signature of a customer id holds (a page left open longer starts as a visitor).
const DEMO_SIGNATURE_SECS: u64 = 12 * 3600;

#[derive(Deserialize)]
struct StoreQuery {
    customer: Option<String>,
    /// The page's language (`?lang=zh`): the widget's `data-lang`, for a shop that answers in it.
    lang: Option<String>,
}

#[derive(Serialize)]
struct DemoCustomer {
    id: String,
    products: usize,
    favourite: String,
}

#[derive(Serialize)]
struct Shelf {
    id: String,
    title: String,
    price: String,
}

async fn store(State(state): State<AppState>, Query(q): Query<StoreQuery>) -> Result<Html<String>, HttpError> {
    let a = &state;
    let customers: Vec<DemoCustomer> = state
        .demo_customers
        .iter()
        .map(|(id, n)| DemoCustomer {
            id: id.clone(),
            products: *n,
            favourite: a
                .behavior
                .get()
                .history(id)
                .iter()
                .max_by_key(|p| p.times)
                .and_then(|p| a.catalog.get(&p.product))
                .map(|p| p.title.clone())
                .unwrap_or_default(),
        })
        .collect();
    let customer = q.customer.filter(|c| customers.iter().any(|d| d.id == *c));
    let lang = q.lang.filter(|l| state.assistant.langs.knows(l));
    let behavior = a.behavior.get();
    let shelf: Vec<Shelf> = behavior
        .popular()
        .into_iter()
        .filter_map(|id| a.catalog.get(id))
        .take(12)
        .map(|p| Shelf { id: p.id.clone(), title: p.title.clone(), price: p.price_label() })
        .collect();
    // the demo page is the shop's backend here: it signs the picked customer's id, as a real shop's server would
    let signed = customer.as_ref().map(|c| {
        let expires = crate::session::now() + DEMO_SIGNATURE_SECS;
        serde_json::json!({ "expires": expires, "signature": state.identity.sign(c, expires) })
    });
    render(
        &state,
        "store.html",
        serde_json::json!({
            "shop": &state.config.shop_name, "customers": customers, "customer": customer, "signed": signed,
            "key": state.demo_key.as_deref().unwrap_or(""), "shelf": shelf, "products": a.catalog.len(),
            "lang": lang,
        }),
    )
}
