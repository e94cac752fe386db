//! Adapter for UCI Online Retail (`InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country`):
//! the demo shop. Products are the product-like stock codes (five digits first) with their latest description and
//! most common unit price; events are the purchases of known customers (cancellations, returns, zero prices and
//! non-product codes such as POST or BANK CHARGES are skipped by rule); each invoice becomes an order.
use super::{progress, BadRow, Batch, ImportError, ImportReport};
use crate::catalog::{title_case, Product};
use crate::store::{Event, EventKind};
use std::collections::HashMap;
use std::path::Path;

/// Stock codes that name products start with five digits (`85123A`, `22423`).
pub fn is_product_code(code: &str) -> bool {
    code.len() >= 5 && code.bytes().take(5).all(|b| b.is_ascii_digit())
}

/// `17850.0` -> `17850`.
fn customer_id(raw: &str) -> Option<String> {
    let t = raw.trim();
    if t.is_empty() {
        return None;
    }
    Some(t.strip_suffix(".0").unwrap_or(t).to_string())
}

#[derive(Default)]
struct ProductSeen {
    description: String,
    last_seen: String,
    prices: HashMap<i64, u32>, // pence -> count
}

/// Reads the raw file into a batch, counting rows skipped by the cleaning rules and reporting malformed ones.
pub fn read(path: &Path, report: &mut ImportReport) -> Result<Batch, ImportError> {
    let (reader, lines) = super::open_counted(path)?;
    let line_of = |p: Option<&csv::Position>| p.map_or(0, |p| lines.line_of(p.byte()));
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let mut seen: HashMap<String, ProductSeen> = HashMap::new();
    let mut batch = Batch::default();
    let bar = progress(541_909, "rows");
    for (i, rec) in csv.records().enumerate() {
        if i % 8192 == 0 {
            bar.set_position(i as u64);
        }
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = line_of(e.position());
                report.bad_rows.push(BadRow { line, message: e.to_string() });
                continue;
            }
        };
        let line = line_of(rec.position());
        match parse_row(&rec) {
            Err(message) => report.bad_rows.push(BadRow { line, message }),
            Ok(None) => report.skipped += 1,
            Ok(Some(row)) => {
                let s = seen.entry(row.code.clone()).or_default();
                if row.date >= s.last_seen && !row.description.is_empty() {
                    s.description = row.description.clone();
                    s.last_seen = row.date.clone();
                }
                *s.prices.entry((row.price * 100.0).round() as i64).or_default() += 1;
                match (row.customer, row.invoice.starts_with('C') || row.quantity <= 0) {
                    (Some(user), false) => batch.events.push((
                        Event {
                            user,
                            product: row.code,
                            kind: EventKind::Purchase,
                            timestamp: row.date,
                            order: Some(row.invoice),
                            quantity: row.quantity,
                            price: Some(row.price),
                            query: None,
                            source: None,
                        },
                        format!("online-retail:{line}"),
                    )),
                    _ => report.skipped += 1,
                }
            }
        }
    }
    bar.finish_and_clear();
    batch.products = seen
        .into_iter()
        .filter(|(_, s)| !s.description.is_empty())
        .map(|(code, s)| {
            let pence = s.prices.iter().max_by_key(|(p, n)| (**n, -**p)).map(|(p, _)| *p).unwrap_or(0);
            Product {
                id: code,
                title: title_case(&s.description),
                description: String::new(),
                category: String::new(),
                brand: String::new(),
                price: Some(pence as f64 / 100.0),
                ..Default::default()
            }
        })
        .collect();
    batch.products.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(batch)
}

struct Row {
    invoice: String,
    code: String,
    description: String,
    quantity: i64,
    date: String,
    price: f64,
    customer: Option<String>,
}

/// `Ok(None)` for rows the cleaning rules skip; `Err` for rows that are malformed.
fn parse_row(rec: &csv::StringRecord) -> Result<Option<Row>, String> {
    if rec.len() != 8 {
        return Err(format!("expected 8 fields, found {}", rec.len()));
    }
    let code = rec[1].trim().to_string();
    let quantity: i64 = rec[3].trim().parse().map_err(|_| format!("Quantity {:?} is not an integer", &rec[3]))?;
    let price: f64 = rec[5].trim().parse().map_err(|_| format!("UnitPrice {:?} is not a number", &rec[5]))?;
    let date = rec[4].trim().to_string();
    if date.len() < 16 || !date.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return Err(format!("InvoiceDate {:?} is not an ISO-8601 time", &rec[4]));
    }
    if !is_product_code(&code) || price <= 0.0 {
        return Ok(None);
    }
    Ok(Some(Row {
        invoice: rec[0].trim().to_string(),
        code,
        description: rec[2].trim().to_string(),
        quantity,
        date,
        price,
        customer: customer_id(&rec[6]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_codes_start_with_five_digits() {
        assert!(is_product_code("85123A"));
        assert!(is_product_code("22423"));
        assert!(!is_product_code("POST"));
        assert!(!is_product_code("BANK CHARGES"));
        assert!(!is_product_code("C2"));
    }

    #[test]
    fn customer_ids_lose_their_float_suffix() {
        assert_eq!(customer_id("17850.0").as_deref(), Some("17850"));
        assert_eq!(customer_id(" "), None);
    }

    #[test]
    fn real_rows_import_and_malformed_rows_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("or.csv");
        std::fs::write(
            &path,
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n\
             536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01T08:26:00,2.55,17850.0,United Kingdom\n\
             536365,POST,POSTAGE,1,2010-12-01T08:26:00,18.00,17850.0,United Kingdom\n\
             C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,2010-12-01T09:41:00,2.55,17850.0,United Kingdom\n\
             536366,22633,HAND WARMER UNION JACK,six,2010-12-01T08:28:00,1.85,17850.0,United Kingdom\n\
             536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,2010-12-01T08:34:00,1.69,,United Kingdom\n",
        )
        .unwrap();
        let mut report = ImportReport::default();
        let batch = read(&path, &mut report).unwrap();
        assert_eq!(batch.events.len(), 1, "only the known customer's real purchase");
        assert_eq!(batch.products.len(), 2);
        assert_eq!(report.bad_rows.len(), 1);
        assert_eq!(report.bad_rows[0].line, 5);
        assert_eq!(report.skipped, 3);
        let heart = batch.products.iter().find(|p| p.id == "85123A").unwrap();
        assert_eq!(heart.title, "White Hanging Heart T-Light Holder");
        assert_eq!(heart.price, Some(2.55));
    }
}
