//! The generic import format. Products:
//! `id,title,price,description,category,brand,stock,rating,reviews,tags,attributes` (only `id` and `title`
//! required; `tags` separated by `;`; `attributes` as `key=value;key=value`, or a JSON object in JSONL). Events: `user,product,kind,timestamp,order,quantity,price`
//! (`kind` one of view, click, add_to_cart, purchase; default purchase). CSV with a header row, or JSONL with the
//! same field names; either may be gzipped. Columns are matched by name whatever their case, spacing or order;
//! the names other systems give the same fields (`product_id`, `sku`, `name`, `user_id`, `event`, `event_time`...)
//! are understood, and a shop may map its own (`ColumnMap`). See README.md, "Import format".
use super::columns::{normalise, Table};
use super::{open, open_counted, BadRow, Batch, ColumnMap, ImportError};
use crate::catalog::Product;
use crate::store::{Event, EventKind};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::io::BufRead;
use std::path::Path;

#[derive(Debug, Deserialize)]
struct ProductRow {
    id: String,
    title: String,
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    stock: Option<String>,
    #[serde(default)]
    rating: Option<String>,
    #[serde(default)]
    reviews: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    attributes: String,
    /// Picture addresses, `;`-separated (or a JSON list).
    #[serde(default)]
    images: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    compare_at_price: Option<String>,
    #[serde(default)]
    gtin: String,
    #[serde(default)]
    mpn: String,
    #[serde(default)]
    family: String,
}

#[derive(Debug, Deserialize)]
struct EventRow {
    user: String,
    product: String,
    #[serde(default)]
    kind: Option<String>,
    timestamp: String,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    quantity: Option<String>,
    #[serde(default)]
    price: Option<String>,
}

fn is_jsonl(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".jsonl") || name.ends_with(".jsonl.gz") || name.ends_with(".ndjson")
}

/// Reads rows of one kind from CSV or JSONL, calling `f` with each row and its line number.
fn rows<T: DeserializeOwned>(
    path: &Path,
    table: Table,
    columns: &ColumnMap,
    bad: &mut Vec<BadRow>,
    mut f: impl FnMut(T, u64, &mut Vec<BadRow>),
) -> Result<(), ImportError> {
    if is_jsonl(path) {
        let reader = open(path)?;
        for (i, line) in reader.lines().enumerate() {
            let line_no = i as u64 + 1;
            let line =
                line.map_err(|e| ImportError::Format { path: path.display().to_string(), message: e.to_string() })?;
            if line.trim().is_empty() {
                continue;
            }
            // JSON values may be numbers where CSV has text: normalise them to strings first.
            let value = serde_json::from_str::<serde_json::Value>(&line).map(|v| rename_keys(v, table, columns));
            match value.map(stringify).and_then(serde_json::from_value::<T>) {
                Ok(row) => f(row, line_no, bad),
                Err(e) => bad.push(BadRow { line: line_no, message: e.to_string() }),
            }
        }
    } else {
        let (reader, lines) = open_counted(path)?;
        let line_of = |p: Option<&csv::Position>| p.map_or(0, |p| lines.line_of(p.byte()));
        let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let found: Vec<String> = csv
            .headers()
            .map_err(|e| ImportError::Format { path: path.display().to_string(), message: e.to_string() })?
            .iter()
            .map(String::from)
            .collect();
        let renamed = table.rename(&found, columns);
        if let Some(missing) = table.required().iter().find(|f| !renamed.iter().any(|c| c == *f)) {
            let message = missing_column(table, missing, &found);
            return Err(ImportError::Format { path: path.display().to_string(), message });
        }
        let headers = csv::StringRecord::from(renamed);
        for rec in csv.records() {
            match rec {
                Ok(rec) => {
                    let line = line_of(rec.position());
                    if rec.len() != headers.len() {
                        let message = format!("expected {} fields, found {}", headers.len(), rec.len());
                        bad.push(BadRow { line, message });
                        continue;
                    }
                    match rec.deserialize::<T>(Some(&headers)) {
                        Ok(row) => f(row, line, bad),
                        Err(e) => bad.push(BadRow { line, message: e.to_string() }),
                    }
                }
                Err(e) => {
                    let line = line_of(e.position());
                    bad.push(BadRow { line, message: e.to_string() });
                }
            }
        }
    }
    Ok(())
}

/// What to say when a file has no column for a required field.
fn missing_column(table: Table, field: &str, found: &[String]) -> String {
    let others = table.aliases().iter().find(|(f, _)| *f == field).map(|(_, n)| n.join(", ")).unwrap_or_default();
    format!(
        "no column holds the {what} field `{field}` (also understood: {others}); the file's columns are {found:?}. \
         Rename one, or map it with --map \"COLUMN={field}\"",
        what = if table == Table::Products { "product" } else { "event" },
    )
}

/// A JSONL object's keys renamed to the fields they hold, like a CSV header.
fn rename_keys(v: serde_json::Value, table: Table, columns: &ColumnMap) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let renamed = table.rename(&keys, columns);
            let mut names: std::collections::HashMap<String, String> = keys.into_iter().zip(renamed).collect();
            serde_json::Value::Object(m.into_iter().map(|(k, v)| (names.remove(&k).unwrap_or(k), v)).collect())
        }
        other => other,
    }
}

/// JSON numbers and booleans become strings; arrays of strings join with `;` (tags).
fn stringify(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Number(n) => Value::String(n.to_string()),
                        Value::Bool(b) => Value::String(b.to_string()),
                        Value::Array(a) => {
                            Value::String(a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(";"))
                        }
                        // attributes: kept as JSON text, read by `attributes`
                        Value::Object(o) => Value::String(Value::Object(o).to_string()),
                        other => other,
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

fn opt_num<T: std::str::FromStr>(v: &Option<String>, field: &str) -> Result<Option<T>, String> {
    number(v.as_deref().unwrap_or(""), field)
}

/// A number in a field, or None when the field is empty.
pub(super) fn number<T: std::str::FromStr>(s: &str, field: &str) -> Result<Option<T>, String> {
    match s.trim() {
        "" => Ok(None),
        s => s.parse().map(Some).map_err(|_| format!("{field} {s:?} is not a number")),
    }
}

/// `colour=red; age=3 years and up`, or the JSON object `{"colour": "red", "pieces": 40}`, -> attributes (keys
/// lower-cased).
fn attributes(raw: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    if raw.trim_start().starts_with('{') {
        let mut out = std::collections::BTreeMap::new();
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(raw).map_err(|e| format!("attributes: {e}"))?;
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            if !k.trim().is_empty() && !v.trim().is_empty() {
                out.insert(k.trim().to_lowercase(), v.trim().to_string());
            }
        }
        return Ok(out);
    }
    let pairs = crate::search::key_value_pairs(raw, '=').map_err(|e| format!("attribute {e}"))?;
    Ok(pairs.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect())
}

pub fn read_products(
    path: &Path,
    columns: &ColumnMap,
    batch: &mut Batch,
    bad: &mut Vec<BadRow>,
) -> Result<(), ImportError> {
    rows::<ProductRow>(path, Table::Products, columns, bad, |r, line, bad| {
        let parsed = (|| -> Result<Product, String> {
            let id = r.id.trim().to_string();
            let title = r.title.trim().to_string();
            if id.is_empty() || title.is_empty() {
                return Err("id and title are required".into());
            }
            let price: Option<f64> = opt_num(&r.price, "price")?;
            if price.is_some_and(|p| !p.is_finite() || p < 0.0) {
                return Err("price must be a non-negative number".into());
            }
            Ok(Product {
                id,
                title,
                description: r.description.trim().to_string(),
                category: r.category.trim().to_string(),
                brand: r.brand.trim().to_string(),
                price,
                stock: opt_num(&r.stock, "stock")?,
                rating: opt_num(&r.rating, "rating")?,
                reviews: r.reviews,
                tags: r.tags.split(';').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect(),
                attributes: attributes(&r.attributes)?,
                images: r.images.split(';').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect(),
                url: r.url.trim().to_string(),
                compare_at_price: opt_num(&r.compare_at_price, "compare_at_price")?,
                gtin: r.gtin.trim().to_string(),
                mpn: r.mpn.trim().to_string(),
                family: r.family.trim().to_string(),
            })
            .and_then(|p| match p.address_problem() {
                Some(problem) => Err(problem),
                None => Ok(p),
            })
        })();
        match parsed {
            Ok(p) => batch.products.push(p),
            Err(message) => bad.push(BadRow { line, message }),
        }
    })
}

pub fn parse_kind(s: Option<&str>) -> Result<EventKind, String> {
    let s = s.map(normalise).unwrap_or_default();
    match s.as_str() {
        "" | "purchase" | "purchased" | "buy" | "order" | "transaction" | "checkout" => Ok(EventKind::Purchase),
        "view" | "viewed" | "page_view" | "pageview" | "product_view" | "detail" | "view_item" => Ok(EventKind::View),
        "click" | "clicked" | "select_item" => Ok(EventKind::Click),
        "add_to_cart" | "cart" | "addtocart" | "add_to_basket" | "basket" | "added_to_cart" => Ok(EventKind::AddToCart),
        "search" => Ok(EventKind::Search),
        "chat_recommendation_shown" => Ok(EventKind::RecommendationShown),
        "chat_recommendation_clicked" => Ok(EventKind::RecommendationClicked),
        other => Err(format!(
            "unknown event kind {other:?} (known: view, click, add_to_cart, purchase, and names such as \
             addtocart or transaction)"
        )),
    }
}

pub fn read_events(
    path: &Path,
    columns: &ColumnMap,
    batch: &mut Batch,
    bad: &mut Vec<BadRow>,
) -> Result<(), ImportError> {
    let mut n = 0u64;
    let source = path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
    rows::<EventRow>(path, Table::Events, columns, bad, |r, line, bad| {
        n += 1;
        let parsed = (|| -> Result<Event, String> {
            if r.user.trim().is_empty() || r.product.trim().is_empty() || r.timestamp.trim().is_empty() {
                return Err("user, product and timestamp are required".into());
            }
            Ok(Event {
                user: r.user.trim().to_string(),
                product: r.product.trim().to_string(),
                kind: parse_kind(r.kind.as_deref())?,
                timestamp: r.timestamp.trim().to_string(),
                order: r.order.filter(|o| !o.trim().is_empty()),
                quantity: opt_num(&r.quantity, "quantity")?.unwrap_or(1),
                price: opt_num(&r.price, "price")?,
                query: None,
                source: None,
            })
        })();
        match parsed {
            Ok(e) => batch.events.push((e, format!("{source}:{n}"))),
            Err(message) => bad.push(BadRow { line, message }),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(name: &str, body: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path).unwrap().write_all(body.as_bytes()).unwrap();
        (dir, path)
    }

    #[test]
    fn a_broken_csv_row_is_reported_with_its_line_and_the_rest_imports() {
        let (_d, path) = file("p.csv", "id,title,price\n1,Red mug,2.50\n2,Blue mug,cheap\n3,\"Unclosed,1\n");
        let (mut batch, mut bad) = (Batch::default(), vec![]);
        read_products(&path, &ColumnMap::default(), &mut batch, &mut bad).unwrap();
        assert_eq!(batch.products.len(), 1);
        assert_eq!(batch.products[0].price, Some(2.5));
        assert!(bad.iter().any(|b| b.line == 3 && b.message.contains("price")), "{bad:?}");
        assert!(bad.len() >= 2, "{bad:?}");
    }

    #[test]
    fn jsonl_products_accept_numbers_and_tag_lists() {
        let (_d, path) = file(
            "p.jsonl",
            "{\"id\":\"a\",\"title\":\"Kite\",\"price\":4.99,\"tags\":[\"outdoor\",\"kids\"]}\nnot json\n",
        );
        let (mut batch, mut bad) = (Batch::default(), vec![]);
        read_products(&path, &ColumnMap::default(), &mut batch, &mut bad).unwrap();
        assert_eq!(batch.products[0].tags, vec!["outdoor", "kids"]);
        assert_eq!(bad, vec![BadRow { line: 2, message: bad[0].message.clone() }]);
    }

    #[test]
    fn attributes_come_as_key_value_pairs_or_a_json_object() {
        let (_d, csv) = file("p.csv", "id,title,attributes\n1,Kite,Colour=red; age=5 years and up\n2,Mug,red\n");
        let (_e, jsonl) =
            file("p.jsonl", "{\"id\":\"a\",\"title\":\"Kite\",\"attributes\":{\"pieces\":40,\"fits\":\"a;b=c\"}}\n");
        let (mut batch, mut bad) = (Batch::default(), vec![]);
        read_products(&csv, &ColumnMap::default(), &mut batch, &mut bad).unwrap();
        read_products(&jsonl, &ColumnMap::default(), &mut batch, &mut bad).unwrap();
        let a = &batch.products[0].attributes;
        assert_eq!((a["colour"].as_str(), a["age"].as_str()), ("red", "5 years and up"));
        assert_eq!(batch.products[1].attributes["pieces"], "40");
        assert_eq!(batch.products[1].attributes["fits"], "a;b=c", "JSON values may hold the CSV separators");
        assert_eq!(bad.len(), 1, "the attribute without '=' is reported: {bad:?}");
        assert!(bad[0].message.contains("key=value"));
    }

    #[test]
    fn events_default_to_purchases_and_reject_unknown_kinds() {
        let (_d, path) = file(
            "e.csv",
            "user,product,kind,timestamp\nu1,a,,2011-01-01T10:00:00\nu1,b,teleport,2011-01-01T10:00:00\n",
        );
        let (mut batch, mut bad) = (Batch::default(), vec![]);
        read_events(&path, &ColumnMap::default(), &mut batch, &mut bad).unwrap();
        assert_eq!(batch.events[0].0.kind, EventKind::Purchase);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].message.contains("teleport"));
    }

    #[test]
    fn common_column_names_in_any_case_and_order_are_understood_and_lines_are_the_files_own() {
        let (_d, path) = file(
            "p.csv",
            "\u{feff}SKU,Product Name,Unit-Price,Vendor,id_legacy\r\n\
             A1,Red kite,4.99,Kites Ltd,9\r\n\
             A2,\"Blue\nkite\",5.50,Kites Ltd,9\r\n\
             A3,Green kite,free,Kites Ltd,9\r\n",
        );
        let (mut batch, mut bad) = (Batch::default(), vec![]);
        read_products(&path, &ColumnMap::default(), &mut batch, &mut bad).unwrap();
        let p = &batch.products;
        assert_eq!(
            (p[0].id.as_str(), p[0].title.as_str(), p[0].price, p[0].brand.as_str()),
            ("A1", "Red kite", Some(4.99), "Kites Ltd")
        );
        assert_eq!(p[1].title, "Blue\nkite");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 5, "the header is line 1 and a quoted line break counts: {bad:?}");
    }

    #[test]
    fn a_column_named_as_the_field_wins_over_one_that_only_goes_by_another_name() {
        let (_d, path) = file("p.csv", "sku,id,name,product_id\nS1,I1,Kite,P1\n");
        let (mut batch, mut bad) = (Batch::default(), vec![]);
        read_products(&path, &ColumnMap::default(), &mut batch, &mut bad).unwrap();
        assert_eq!(batch.products[0].id, "I1", "{bad:?}");
    }

    #[test]
    fn a_file_without_an_id_column_says_what_it_found_and_how_to_map_it() {
        let (_d, path) = file("p.csv", "Item Number,Description\n1,Kite\n");
        let (mut batch, mut bad) = (Batch::default(), vec![]);
        let err = read_products(&path, &ColumnMap::default(), &mut batch, &mut bad).unwrap_err().to_string();
        assert!(err.contains("`id`") && err.contains("Item Number") && err.contains("--map"), "{err}");
        let map = ColumnMap::parse(&["Item Number=id".into(), "description=title".into()]).unwrap();
        read_products(&path, &map, &mut batch, &mut bad).unwrap();
        assert_eq!((batch.products[0].id.as_str(), batch.products[0].title.as_str()), ("1", "Kite"));
        assert!(ColumnMap::parse(&["x=colour".into()]).unwrap_err().to_string().contains("not a field"));
        assert!(ColumnMap::parse(&["x".into()]).is_err());
    }

    #[test]
    fn events_from_other_systems_read_with_their_own_names_and_kinds() {
        let (_d, csv) = file(
            "e.csv",
            "visitorid,itemid,event,event_time,transactionid\n7,A1,addtocart,2015-06-02T05:02:12,\n7,A1,Transaction,2015-06-02T05:09:00,T9\n",
        );
        let (_e, jsonl) = file(
            "e.jsonl",
            "{\"user_id\":8,\"product_id\":\"A2\",\"event_type\":\"page_view\",\"created_at\":\"2015-06-02\"}\n",
        );
        let (mut batch, mut bad) = (Batch::default(), vec![]);
        read_events(&csv, &ColumnMap::default(), &mut batch, &mut bad).unwrap();
        read_events(&jsonl, &ColumnMap::default(), &mut batch, &mut bad).unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        let kinds: Vec<_> = batch.events.iter().map(|(e, _)| (e.user.as_str(), e.kind)).collect();
        assert_eq!(kinds, [("7", EventKind::AddToCart), ("7", EventKind::Purchase), ("8", EventKind::View)]);
        assert_eq!(batch.events[1].0.order.as_deref(), Some("T9"));
    }
}
