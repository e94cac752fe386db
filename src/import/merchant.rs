//! The Google Merchant Center product feed, as a tab-separated file or an RSS 2.0 / Atom XML feed with the `g:`
//! namespace, with the attribute names of Google's product data specification: `id`, `title`, `description`,
//! `link`, `image_link`, `additional_image_link`, `availability`, `price` (`15.00 GBP`), `sale_price`, `brand`,
//! `gtin`, `mpn`, `google_product_category`, `product_type`, `item_group_id` (variants of one product), `color`,
//! `size`, `material`, `pattern`, `age_group`, `gender`. A price in another currency than the shop's is a bad row
//! (it would be shown as the shop's); `out_of_stock` is stock 0; the sale price is the price, the regular one the
//! compare-at price.
use super::{open, open_counted, BadRow, Batch, ImportError};
use crate::catalog::Product;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The attributes kept as the product's own (searchable, filterable, design words for colour and material).
const ATTRIBUTES: &[&str] = &["color", "size", "material", "pattern", "age_group", "gender", "condition"];

/// `15.00 GBP` -> (15.0, "GBP"); a bare number has no currency.
fn money(s: &str) -> Result<Option<(f64, Option<String>)>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let (num, cur) = match s.rsplit_once(' ') {
        Some((n, c)) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => (n, Some(c.to_uppercase())),
        _ => (s, None),
    };
    let v: f64 = num.trim().replace(',', "").parse().map_err(|_| format!("price {s:?} is not a number"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("price {s:?} is not a non-negative number"));
    }
    Ok(Some((v, cur)))
}

/// One item of the feed (its attributes by name, `g:` dropped, lower case) as a product.
fn product(item: &BTreeMap<String, String>, currency: &str) -> Result<Product, String> {
    let get = |k: &str| item.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (id, title) = (get("id"), get("title"));
    if id.is_empty() || title.is_empty() {
        return Err("id and title are required".into());
    }
    let priced = |field: &str| -> Result<Option<f64>, String> {
        match money(&get(field))? {
            Some((_, Some(c))) if !currency.is_empty() && c != currency => {
                Err(format!("{field} is in {c}, but the shop sells in {currency} (chat.currency)"))
            }
            other => Ok(other.map(|(v, _)| v)),
        }
    };
    let (regular, sale) = (priced("price")?, priced("sale_price")?);
    let (price, compare_at_price) = match (regular, sale) {
        (Some(r), Some(s)) if s < r => (Some(s), Some(r)),
        (r, _) => (r, None),
    };
    let availability = get("availability").to_lowercase().replace(' ', "_");
    let stock = (availability == "out_of_stock").then_some(0);
    let mut images = vec![get("image_link")];
    images.extend(get("additional_image_link").split(',').map(|s| s.trim().to_string()));
    images.retain(|i| !i.is_empty());
    let category =
        Some(get("product_type")).filter(|c| !c.is_empty()).unwrap_or_else(|| get("google_product_category"));
    let p = Product {
        id,
        title,
        description: super::shopify::strip_html(&get("description")),
        category,
        brand: get("brand"),
        price,
        stock,
        attributes: ATTRIBUTES.iter().map(|k| (k.to_string(), get(k))).filter(|(_, v)| !v.is_empty()).collect(),
        images,
        url: get("link"),
        compare_at_price,
        gtin: get("gtin"),
        mpn: get("mpn"),
        family: get("item_group_id"),
        ..Default::default()
    };
    match p.address_problem() {
        Some(problem) => Err(problem),
        None => Ok(p),
    }
}

fn is_xml(path: &Path) -> bool {
    let name = path.to_string_lossy().to_lowercase();
    name.ends_with(".xml") || name.ends_with(".xml.gz") || name.ends_with(".rss") || name.ends_with(".atom")
}

/// Reads a feed (TSV, or XML by its name) into products; `currency` is the shop's (empty: not checked).
pub fn read(path: &Path, currency: &str, batch: &mut Batch, bad: &mut Vec<BadRow>) -> Result<(), ImportError> {
    if is_xml(path) {
        let mut text = String::new();
        open(path)?
            .read_to_string(&mut text)
            .map_err(|e| ImportError::Format { path: path.display().to_string(), message: e.to_string() })?;
        for (line, item) in
            xml_items(&text).map_err(|message| ImportError::Format { path: path.display().to_string(), message })?
        {
            match product(&item, currency) {
                Ok(p) => batch.products.push(p),
                Err(message) => bad.push(BadRow { line, message }),
            }
        }
        return Ok(());
    }
    let (reader, lines) = open_counted(path)?;
    let mut tsv = csv::ReaderBuilder::new().delimiter(b'\t').flexible(true).quoting(false).from_reader(reader);
    let headers: Vec<String> = tsv
        .headers()
        .map_err(|e| ImportError::Format { path: path.display().to_string(), message: e.to_string() })?
        .iter()
        .map(|h| super::columns::normalise(h.trim_start_matches("g:")))
        .collect();
    if !headers.iter().any(|h| h == "id") || !headers.iter().any(|h| h == "title") {
        let message =
            format!("not a Merchant Center feed: no id and title columns (the file's columns are {headers:?})");
        return Err(ImportError::Format { path: path.display().to_string(), message });
    }
    for rec in tsv.records() {
        match rec {
            Ok(rec) => {
                let line = rec.position().map_or(0, |p| lines.line_of(p.byte()));
                let item: BTreeMap<String, String> =
                    headers.iter().cloned().zip(rec.iter().map(String::from)).collect();
                match product(&item, currency) {
                    Ok(p) => batch.products.push(p),
                    Err(message) => bad.push(BadRow { line, message }),
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_of(p.byte()));
                bad.push(BadRow { line, message: e.to_string() });
            }
        }
    }
    Ok(())
}

/// A feed item: the line it starts on and its attributes by name.
type Item = (u64, BTreeMap<String, String>);

/// The `<item>` (RSS) or `<entry>` (Atom) elements of a feed, each with the line it starts on and its child
/// elements' text by name (namespace prefix dropped, lower case; repeated elements joined with commas).
fn xml_items(text: &str) -> Result<Vec<Item>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    // the reader only moves forward: lines are counted from where the last count stopped (counting from the
    // start for each item made a large feed quadratic)
    let (mut counted_to, mut line) = (0usize, 1u64);
    let mut line_at = |pos: u64| {
        let pos = (pos as usize).min(text.len()).max(counted_to);
        line += text.as_bytes()[counted_to..pos].iter().filter(|b| **b == b'\n').count() as u64;
        counted_to = pos;
        line
    };
    let local = |name: &[u8]| {
        let n = String::from_utf8_lossy(name).to_lowercase();
        n.rsplit(':').next().unwrap_or_default().to_string()
    };
    let mut items = vec![];
    let mut item: Option<Item> = None;
    let mut field: Option<String> = None;
    let mut value = String::new();
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| format!("XML at line {}: {e}", line_at(at)))?;
        match event {
            Event::Start(e) => {
                let name = local(e.name().as_ref());
                if item.is_none() && (name == "item" || name == "entry") {
                    item = Some((line_at(at), BTreeMap::new()));
                } else if item.is_some() {
                    field = Some(name);
                    value.clear();
                }
            }
            Event::Text(t) if field.is_some() => value.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::CData(t) if field.is_some() => value.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) if field.is_some() => {
                let name = r.decode().map_err(|e| e.to_string())?;
                if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
                    value.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_xml_entity(&name) {
                    value.push_str(s);
                }
            }
            Event::End(e) => {
                let name = local(e.name().as_ref());
                if (name == "item" || name == "entry") && field.is_none() {
                    items.extend(item.take());
                } else if field.as_deref() == Some(name.as_str()) {
                    if let Some((_, map)) = item.as_mut() {
                        let v = value.trim().to_string();
                        map.entry(name).and_modify(|old: &mut String| *old = format!("{old},{v}")).or_insert(v);
                    }
                    field = None;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_carry_their_currency_and_one_the_shop_does_not_sell_in_is_refused() {
        assert_eq!(money("15.00 GBP").unwrap(), Some((15.0, Some("GBP".into()))));
        assert_eq!(money("1,250.50 usd").unwrap(), Some((1250.5, Some("USD".into()))));
        let item: BTreeMap<String, String> =
            [("id", "A1"), ("title", "Kite"), ("price", "9.99 USD")].map(|(k, v)| (k.into(), v.into())).into();
        assert!(product(&item, "GBP").unwrap_err().contains("USD"));
        assert_eq!(product(&item, "USD").unwrap().price, Some(9.99));
    }
}
