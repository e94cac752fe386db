//! The records the store keeps for the shop itself: what shoppers did and the orders derived from it.
use serde::{Deserialize, Serialize};

/// What a shopper did. Import brings purchases; the widget and the shop send the rest.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    View,
    Click,
    AddToCart,
    Purchase,
    /// A search in the shop (`query` holds the words; `product` is empty).
    Search,
    /// The chat showed this product as a card.
    #[serde(rename = "chat_recommendation_shown")]
    RecommendationShown,
    /// The shopper opened a card the chat showed.
    #[serde(rename = "chat_recommendation_clicked")]
    RecommendationClicked,
}

impl EventKind {
    /// Whether the event says the shopper was interested in its product (what the recommender learns from).
    pub fn shows_interest(self) -> bool {
        !matches!(self, EventKind::Search | EventKind::RecommendationShown)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub user: String,
    pub product: String,
    pub kind: EventKind,
    /// ISO-8601 time, e.g. `2010-12-01T08:26:00`.
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default = "one")]
    pub quantity: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// The words of a `search` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// What led here, e.g. a saved marketing copy variant's id (`cv-…`), for attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Event {
    /// One unit, no order, price or query: what most events are.
    pub fn new(user: &str, product: &str, kind: EventKind, timestamp: &str) -> Self {
        Self {
            user: user.into(),
            product: product.into(),
            kind,
            timestamp: timestamp.into(),
            order: None,
            quantity: 1,
            price: None,
            query: None,
            source: None,
        }
    }
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderLine {
    pub product: String,
    pub title: String,
    pub quantity: i64,
    pub price: Option<f64>,
}

/// An order: pushed by the shop's backend (`PUT /api/orders/{id}`), or derived from imported purchase events that
/// carry an order id (an invoice in the demo shop).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Order {
    pub id: String,
    pub customer: String,
    pub timestamp: String,
    pub lines: Vec<OrderLine>,
    /// Fulfilment as the shop reported it, oldest first (empty: the shop reports none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<StatusChange>,
    /// What the shopper asked staff to do with the order (cancel it, take it back), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<OrderRequest>,
}

/// Where an order is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Paid,
    Packed,
    Shipped,
    Delivered,
    Cancelled,
    ReturnStarted,
    ReturnReceived,
    Refunded,
}

/// One change of an order's status, with the carrier's tracking when shipped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusChange {
    pub status: OrderStatus,
    /// When it happened (RFC 3339 or `YYYY-MM-DD HH:MM`, as the shop sent it).
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
}

/// A shopper's request about an order, recorded for staff (never acted on by the assistant).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderRequest {
    /// `cancel` or `return`.
    pub kind: String,
    pub at: String,
    /// The shopper's message, personal data redacted.
    pub message: String,
    /// `open` until staff close it.
    pub state: String,
}
