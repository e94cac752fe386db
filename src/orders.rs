//! Orders and fulfilment as the shop's backend reports them: an order pushed with its lines (its purchases join
//! the shopper's history), each status change (placed, paid, packed, shipped with carrier and tracking, delivered,
//! cancelled, return started/received, refunded), and the shopper's cancellation and return requests, recorded
//! on the order for staff. The assistant reads the latest status; it never changes an order itself.
use crate::catalog::Catalog;
use crate::store::{Event, EventKind, Order, OrderLine, OrderRequest, OrderStatus, StatusChange, Store, StoreError};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("{0}")]
    Invalid(String),
    #[error("no order with id {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An order as the shop's backend pushes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderIn {
    /// The shop's customer id (the one the widget's signed identity carries).
    pub customer: String,
    /// When it was placed; default now.
    #[serde(default)]
    pub placed_at: Option<String>,
    pub lines: Vec<LineIn>,
    /// Its status now, when the shop sends one with the order.
    #[serde(default)]
    pub status: Option<StatusIn>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineIn {
    pub product: String,
    /// Default: the catalog's title.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default = "one")]
    pub quantity: i64,
    #[serde(default)]
    pub price: Option<f64>,
}

fn one() -> i64 {
    1
}

/// A status change as the shop's backend pushes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusIn {
    pub status: OrderStatus,
    /// When it happened; default now.
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
}

fn now() -> String {
    crate::prompts::datetime_iso(crate::session::now())
}

/// A time the shop sent, checked to be ISO 8601 (kept as sent), or now.
fn time(v: Option<String>, field: &str) -> Result<String, OrderError> {
    match clean(v) {
        None => Ok(now()),
        Some(t) if crate::events::parse_iso(&t).is_some() => Ok(t),
        Some(t) => Err(OrderError::Invalid(format!("{field} {t:?} is not an ISO 8601 date-time"))),
    }
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl StatusIn {
    fn validate(self) -> Result<StatusChange, OrderError> {
        let tracking_url = clean(self.tracking_url);
        if let Some(u) = &tracking_url {
            let ok = (u.starts_with("https://") || u.starts_with("http://")) && !u.contains(char::is_whitespace);
            if !ok {
                return Err(OrderError::Invalid(format!("tracking_url {u:?} is not an http(s) address")));
            }
        }
        Ok(StatusChange {
            status: self.status,
            at: time(self.at, "at")?,
            carrier: clean(self.carrier),
            tracking_number: clean(self.tracking_number),
            tracking_url,
        })
    }
}

/// Adds or replaces an order; its lines become the shopper's purchase events (keyed by order and line, so a
/// second push replaces them) and what the shop reported before is kept. Returns whether it existed.
pub fn put(store: &Store, catalog: &Catalog, id: &str, o: OrderIn) -> Result<bool, OrderError> {
    let id = id.trim();
    let customer = o.customer.trim();
    if id.is_empty() || customer.is_empty() {
        return Err(OrderError::Invalid("an order needs an id and a customer".into()));
    }
    if o.lines.is_empty() {
        return Err(OrderError::Invalid("an order needs at least one line".into()));
    }
    let mut lines = vec![];
    for (i, l) in o.lines.into_iter().enumerate() {
        if l.product.trim().is_empty() || l.quantity <= 0 || l.price.is_some_and(|p| !p.is_finite() || p < 0.0) {
            return Err(OrderError::Invalid(format!(
                "line {}: a product id, a positive quantity and a non-negative price are required",
                i + 1
            )));
        }
        let known = catalog.get(l.product.trim());
        let title = clean(l.title).or_else(|| known.as_ref().map(|p| p.title.clone())).unwrap_or_default();
        lines.push(OrderLine { product: l.product.trim().to_string(), title, quantity: l.quantity, price: l.price });
    }
    let old = store.order(id)?;
    if old.as_ref().is_some_and(|old| old.customer != customer) {
        return Err(OrderError::Invalid(format!("order {id:?} belongs to another customer")));
    }
    let (mut status, requests) = old.as_ref().map(|o| (o.status.clone(), o.requests.clone())).unwrap_or_default();
    if let Some(s) = o.status {
        status.push(s.validate()?);
    }
    let order = Order {
        id: id.to_string(),
        customer: customer.to_string(),
        timestamp: time(o.placed_at, "placed_at")?,
        lines,
        status,
        requests,
    };
    let events: Vec<(Event, String)> = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let e = Event {
                user: order.customer.clone(),
                product: l.product.clone(),
                kind: EventKind::Purchase,
                timestamp: order.timestamp.clone(),
                order: Some(order.id.clone()),
                quantity: l.quantity,
                price: l.price,
                query: None,
                source: None,
            };
            (e, format!("order:{}:{i}", order.id))
        })
        .collect();
    store.put_events(events.iter().map(|(e, k)| (e, k.as_str())))?;
    store.put_orders([&order])?;
    store.flush()?;
    Ok(old.is_some())
}

/// Records a status change (appended: the latest is what the shopper is told).
pub fn add_status(store: &Store, id: &str, s: StatusIn) -> Result<Order, OrderError> {
    let mut order = store.order(id)?.ok_or_else(|| OrderError::NotFound(id.to_string()))?;
    order.status.push(s.validate()?);
    store.put_orders([&order])?;
    store.flush()?;
    Ok(order)
}

/// Records a shopper's request (`cancel` or `return`) on their order for staff; a repeat of an open request of
/// the same kind is not recorded twice. Returns the order, or None when it is not this customer's.
pub fn request(
    store: &Store,
    customer: &str,
    id: &str,
    kind: &str,
    message: &str,
) -> Result<Option<Order>, OrderError> {
    let Some(mut order) = store.order(id)?.filter(|o| o.customer == customer) else { return Ok(None) };
    if !order.requests.iter().any(|r| r.kind == kind && r.state == "open") {
        order.requests.push(OrderRequest {
            kind: kind.to_string(),
            at: now(),
            message: crate::privacy::redact(message),
            state: "open".into(),
        });
        store.put_orders([&order])?;
        store.flush()?;
    }
    Ok(Some(order))
}

/// The orders with an open request, newest request first: the staff's queue.
pub fn open_requests(store: &Store) -> Result<Vec<Order>, OrderError> {
    let mut out: Vec<Order> =
        store.all_orders()?.into_iter().filter(|o| o.requests.iter().any(|r| r.state == "open")).collect();
    let latest = |o: &Order| o.requests.iter().map(|r| r.at.clone()).max().unwrap_or_default();
    out.sort_by_key(|o| std::cmp::Reverse(latest(o)));
    Ok(out)
}

/// Closes an order's open requests (staff handled them).
pub fn close_requests(store: &Store, id: &str) -> Result<Order, OrderError> {
    let mut order = store.order(id)?.ok_or_else(|| OrderError::NotFound(id.to_string()))?;
    for r in order.requests.iter_mut() {
        r.state = "closed".into();
    }
    store.put_orders([&order])?;
    store.flush()?;
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(customer: &str) -> OrderIn {
        serde_json::from_value(serde_json::json!({
            "customer": customer, "placed_at": "2026-11-28T10:00:00",
            "lines": [{"product": "85123A", "quantity": 2, "price": 2.55}],
            "status": {"status": "paid", "at": "2026-11-28T10:01:00"}
        }))
        .unwrap()
    }

    #[test]
    fn an_order_pushed_then_shipped_keeps_its_history_and_joins_the_shoppers_purchases() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let catalog = Catalog::new([crate::catalog::Product::titled("85123A", "White Hanging Heart T-Light Holder")]);
        assert!(!put(&store, &catalog, "SO-1001", order("c42")).unwrap());
        let shipped: StatusIn = serde_json::from_value(serde_json::json!({
            "status": "shipped", "carrier": "Royal Mail", "tracking_number": "RM123456785GB",
            "tracking_url": "https://track.example/RM123456785GB"
        }))
        .unwrap();
        let o = add_status(&store, "SO-1001", shipped).unwrap();
        assert_eq!(o.status.iter().map(|s| s.status).collect::<Vec<_>>(), [OrderStatus::Paid, OrderStatus::Shipped]);
        assert_eq!(o.lines[0].title, "White Hanging Heart T-Light Holder", "the catalog's title");
        // pushed again (the backend resends it): the history stays, the purchase is not counted twice
        assert!(put(&store, &catalog, "SO-1001", order("c42")).unwrap());
        let o = store.order("SO-1001").unwrap().unwrap();
        assert_eq!(o.status.len(), 3);
        assert_eq!(store.user_events("c42").unwrap().len(), 1);
        assert!(put(&store, &catalog, "SO-1001", order("someone-else")).unwrap_err().to_string().contains("another"));
        let bad: StatusIn =
            serde_json::from_value(serde_json::json!({"status": "shipped", "tracking_url": "javascript:alert(1)"}))
                .unwrap();
        assert!(matches!(add_status(&store, "SO-1001", bad), Err(OrderError::Invalid(_))));
        assert!(serde_json::from_value::<StatusIn>(serde_json::json!({"status": "teleported"})).is_err());
        assert!(matches!(
            add_status(&store, "NOPE", serde_json::from_value(serde_json::json!({"status": "paid"})).unwrap()),
            Err(OrderError::NotFound(_))
        ));
    }

    #[test]
    fn a_request_is_recorded_once_for_the_orders_owner_only_and_staff_close_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        put(&store, &Catalog::default(), "SO-7", order("c42")).unwrap();
        assert!(request(&store, "intruder", "SO-7", "cancel", "cancel it").unwrap().is_none());
        let o = request(&store, "c42", "SO-7", "cancel", "please cancel, call me on 07700 900123").unwrap();
        assert_eq!(o.unwrap().requests.len(), 1);
        request(&store, "c42", "SO-7", "cancel", "cancel it!").unwrap();
        let queue = open_requests(&store).unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].requests.len(), 1, "an open request is not recorded twice");
        assert!(!queue[0].requests[0].message.contains("07700"), "redacted: {}", queue[0].requests[0].message);
        close_requests(&store, "SO-7").unwrap();
        assert!(open_requests(&store).unwrap().is_empty());
    }
}
