//! Converts the Amazon UK toys catalog (PromptCloud, CC BY-SA 4.0) into the generic product format (JSONL), so
//! a shop with descriptions, categories and reviews imports through the same path as any other.
use super::{BadRow, ImportError};
use crate::catalog::Product;
use std::io::Write;
use std::path::Path;

/// Reviews are packed as `title // rating // date // By name on date // text`, separated by `|`.
/// Keeps each review's title and text.
pub fn unpack_reviews(packed: &str) -> String {
    packed
        .split('|')
        .filter_map(|r| {
            let parts: Vec<&str> = r.split(" // ").map(str::trim).collect();
            match parts.as_slice() {
                [title, .., text] if parts.len() >= 5 => Some(format!("{title}. {text}")),
                _ => None,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Labels of the "Technical Details" part of `product_information` ("Item Weight998 g Manufacturer recommended
/// age:3 years and up ..."; labels and values run together) and the attribute each one becomes (empty: a label
/// that only ends the value before it).
const DETAILS: [(&str, &str); 29] = [
    ("Manufacturer recommended age:", "age"),
    ("Colour", "colour"),
    ("Color", "colour"),
    ("Material Type(s)", "material"),
    ("Material Type", "material"),
    ("Material Composition", "material"),
    ("Material", "material"),
    ("Batteries Required?", "batteries required"),
    ("Batteries Included?", "batteries included"),
    ("Assembly Required", "assembly required"),
    ("Main Language(s)", "language"),
    ("Remote Control Included?", "remote control included"),
    ("Scale", "scale"),
    ("Track Width/Gauge", "gauge"),
    ("Item Weight", ""),
    ("Product Dimensions", ""),
    ("Item model number", ""),
    ("Engine Type", ""),
    ("Radio Control Suitability", ""),
    ("Number of Game Players", ""),
    ("Number of Puzzle Pieces", ""),
    ("Batteries", ""),
    ("Size", ""),
    ("Style", ""),
    ("Manufacturer reference", ""),
    ("Manufacturer Part Number", ""),
    ("Care Instructions", ""),
    ("Remote Control Type", ""),
    ("Radio Control Number of Channels", ""),
];

/// Attributes read from the technical details: each known label's value runs to the next label.
pub fn details(info: &str) -> std::collections::BTreeMap<String, String> {
    let section = info.split("Additional Information").next().unwrap_or("");
    let section = section.strip_prefix("Technical Details").unwrap_or(section).replace('\u{a0}', " ");
    // where each label starts (a longer label wins over one it contains, e.g. "Material Type" over "Material")
    let mut found: Vec<(usize, usize, &str)> = vec![];
    for (label, key) in DETAILS {
        for (at, _) in section.match_indices(label) {
            if !found.iter().any(|&(s, e, _)| at >= s && at < e) {
                found.push((at, at + label.len(), key));
            }
        }
    }
    found.sort_unstable();
    let mut out = std::collections::BTreeMap::new();
    for (i, &(_, end, key)) in found.iter().enumerate() {
        let next = found.get(i + 1).map_or(section.len(), |f| f.0);
        let value = section[end..next.max(end)].trim();
        if !key.is_empty() && !value.is_empty() && value.len() <= 40 {
            out.entry(key.to_string()).or_insert_with(|| value.to_string());
        }
    }
    out
}

/// `£1,234.50` or `4.99` -> 4.99.
fn price(raw: &str) -> Option<f64> {
    let t: String = raw.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
    t.parse().ok()
}

pub fn convert(input: &Path, output: &Path) -> Result<(usize, Vec<BadRow>), ImportError> {
    let (reader, lines) = super::open_counted(input)?;
    let line_of = |p: Option<&csv::Position>| p.map_or(0, |p| lines.line_of(p.byte()));
    let mut csv = csv::ReaderBuilder::new().from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| ImportError::Format { path: input.display().to_string(), message: e.to_string() })?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| ImportError::Format {
            path: input.display().to_string(),
            message: format!("missing column {name}"),
        })
    };
    let (id, name, maker, price_c, stock, rating, desc, reviews, cat) = (
        need("product_id")?,
        need("product_name")?,
        need("manufacturer")?,
        need("price")?,
        need("number_available_in_stock")?,
        need("average_review_rating")?,
        need("product_description")?,
        need("customer_reviews")?,
        need("category")?,
    );
    let info = col("product_information");
    let subs: Vec<usize> = (1..=4).filter_map(|i| col(&format!("subcategory_{i}"))).collect();
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(output)
            .map_err(|source| ImportError::Open { path: output.display().to_string(), source })?,
    );
    let (mut n, mut bad) = (0, vec![]);
    for rec in csv.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                bad.push(BadRow { line: line_of(e.position()), message: e.to_string() });
                continue;
            }
        };
        let get = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
        if get(id).is_empty() || get(name).is_empty() {
            bad.push(BadRow { line: line_of(rec.position()), message: "no id or name".into() });
            continue;
        }
        let mut path = vec![get(cat)];
        path.extend(subs.iter().map(|&i| get(i)));
        let p = Product {
            id: get(id),
            title: get(name),
            description: get(desc),
            category: path.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" > "),
            brand: get(maker),
            price: price(&get(price_c)),
            // The stock column is text such as "5 new"; its leading number is the count.
            stock: get(stock).split_whitespace().next().and_then(|s| s.parse().ok()),
            rating: get(rating).split_whitespace().next().and_then(|s| s.parse().ok()),
            reviews: unpack_reviews(&get(reviews)),
            tags: vec![],
            attributes: info.map(|i| details(&get(i))).unwrap_or_default(),
            ..Default::default()
        };
        serde_json::to_writer(&mut out, &p)
            .map_err(|e| ImportError::Format { path: output.display().to_string(), message: e.to_string() })?;
        out.write_all(b"\n").map_err(|source| ImportError::Open { path: output.display().to_string(), source })?;
        n += 1;
    }
    out.flush().map_err(|source| ImportError::Open { path: output.display().to_string(), source })?;
    Ok((n, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_reviews_keep_title_and_text() {
        let packed = "Five Stars // 5.0 // 27 Dec. 2014 // By\n catherine \n on 27 Dec. 2014 // just what my husband required|Meh // 2.0 // 1 Jan. 2015 // By x on 1 Jan. 2015 // broke";
        assert_eq!(unpack_reviews(packed), "Five Stars. just what my husband required\nMeh. broke");
    }

    #[test]
    fn technical_details_become_attributes_and_unknown_labels_end_values() {
        let info = "Technical Details Item Weight1.2 Kg Manufacturer recommended age:8 years and up Scale1:72 \
            Engine Typeelectric Batteries Required?No Colour Red \u{a0}\u{a0} Additional Information ASINB00OG9OXF4";
        let a = details(info);
        assert_eq!(a.get("age").map(String::as_str), Some("8 years and up"));
        assert_eq!(a.get("scale").map(String::as_str), Some("1:72"));
        assert_eq!(a.get("batteries required").map(String::as_str), Some("No"));
        assert_eq!(a.get("colour").map(String::as_str), Some("Red"));
        assert_eq!(a.len(), 4, "{a:?}");
        assert!(details("no details here").is_empty());
    }

    #[test]
    fn prices_lose_currency_signs_and_commas() {
        assert_eq!(price("£1,234.50"), Some(1234.5));
        assert_eq!(price(""), None);
    }
}
