//! The Shopify product CSV export (Products > Export > "Plain CSV file"), with its own column set: one row per
//! variant, the product's fields on its first row (`Handle`, `Title`, `Body (HTML)`, `Vendor`, `Product Category`,
//! `Type`, `Tags`, `Published`, `Status`, `Option1 Name`...), the variant's on every row (`Option1 Value`...,
//! `Variant SKU`, `Variant Inventory Qty`, `Variant Price`, `Variant Compare At Price`, `Variant Barcode`,
//! `Variant Image`), and rows with only `Handle` and `Image Src` adding pictures. Each variant becomes a product
//! of the family named by the handle; its options become attributes (`color: Red`); drafts and archived
//! products are skipped by rule. The product's page is `/products/HANDLE`, as on a Shopify storefront.
use super::columns::normalise;
use super::generic::number;
use super::{open_counted, BadRow, Batch, ImportError, ImportReport};
use crate::catalog::Product;
use std::collections::HashMap;
use std::path::Path;

/// The product's fields, from its first row.
#[derive(Default, Clone)]
struct Head {
    title: String,
    body: String,
    vendor: String,
    category: String,
    tags: Vec<String>,
    options: [String; 3],
    images: Vec<String>,
    live: bool,
}

struct Variant {
    line: u64,
    handle: String,
    values: [String; 3],
    sku: String,
    price: Option<f64>,
    compare_at: Option<f64>,
    stock: Option<i64>,
    barcode: String,
    image: String,
}

/// HTML (a product's body) as plain text: tags out, the common entities decoded, spaces collapsed.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads a Shopify export into products (one per variant), counting drafts as skipped by rule.
pub fn read(path: &Path, batch: &mut Batch, report: &mut ImportReport) -> Result<(), ImportError> {
    let (reader, lines) = open_counted(path)?;
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let fail = |message: String| ImportError::Format { path: path.display().to_string(), message };
    let headers: Vec<String> = csv.headers().map_err(|e| fail(e.to_string()))?.iter().map(normalise).collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(handle_at), Some(title_at)) = (col("handle"), col("title")) else {
        return Err(fail(format!(
            "not a Shopify product export: no Handle and Title columns (the file's columns are {headers:?})"
        )));
    };
    let at = |names: &[&str]| names.iter().find_map(|n| col(n));
    let body_at = at(&["body_(html)", "body_html", "body"]);
    let vendor_at = col("vendor");
    let category_at = at(&["product_category", "standard_product_type"]);
    let type_at = at(&["type", "custom_product_type"]);
    let (tags_at, published_at, status_at) = (col("tags"), col("published"), col("status"));
    let option_name_at = [col("option1_name"), col("option2_name"), col("option3_name")];
    let option_value_at = [col("option1_value"), col("option2_value"), col("option3_value")];
    let (sku_at, price_at) = (col("variant_sku"), col("variant_price"));
    let compare_at = col("variant_compare_at_price");
    let qty_at = col("variant_inventory_qty");
    let barcode_at = col("variant_barcode");
    let image_at = col("image_src");
    let variant_image_at = col("variant_image");

    let mut heads: HashMap<String, Head> = HashMap::new();
    let mut order: Vec<String> = vec![];
    let mut variants: Vec<Variant> = vec![];
    for rec in csv.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_of(p.byte()));
                report.bad_rows.push(BadRow { line, message: e.to_string() });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| lines.line_of(p.byte()));
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").trim().to_string();
        let handle = get(Some(handle_at));
        if handle.is_empty() {
            report.bad_rows.push(BadRow { line, message: "no Handle".into() });
            continue;
        }
        let title = get(Some(title_at));
        if !title.is_empty() && !heads.contains_key(&handle) {
            let published = get(published_at).to_lowercase();
            let status = get(status_at).to_lowercase();
            let category = Some(get(category_at)).filter(|c| !c.is_empty()).unwrap_or_else(|| get(type_at));
            let head = Head {
                title,
                body: strip_html(&get(body_at)),
                vendor: get(vendor_at),
                category,
                tags: get(tags_at).split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect(),
                options: option_name_at.map(get),
                images: vec![],
                live: published != "false" && !matches!(status.as_str(), "draft" | "archived"),
            };
            heads.insert(handle.clone(), head);
            order.push(handle.clone());
        }
        let image = get(image_at);
        if !image.is_empty() {
            if let Some(h) = heads.get_mut(&handle) {
                h.images.push(image);
            }
        }
        let values = option_value_at.map(get);
        let (sku, price_text) = (get(sku_at), get(price_at));
        if values.iter().all(String::is_empty) && sku.is_empty() && price_text.is_empty() {
            continue; // a row that only adds a picture
        }
        let parsed = (|| -> Result<Variant, String> {
            Ok(Variant {
                line,
                handle: handle.clone(),
                values: values.clone(),
                sku: sku.clone(),
                price: number(&price_text, "Variant Price")?,
                compare_at: number(&get(compare_at), "Variant Compare At Price")?,
                stock: number(&get(qty_at), "Variant Inventory Qty")?,
                barcode: get(barcode_at),
                image: get(variant_image_at),
            })
        })();
        match parsed {
            Ok(v) => variants.push(v),
            Err(message) => report.bad_rows.push(BadRow { line, message }),
        }
    }

    let mut count: HashMap<&str, usize> = HashMap::new();
    for v in &variants {
        *count.entry(v.handle.as_str()).or_default() += 1;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for v in &variants {
        let Some(head) = heads.get(&v.handle) else {
            let message = format!("a variant of {:?}, whose first row (with its Title) is missing", v.handle);
            report.bad_rows.push(BadRow { line: v.line, message });
            continue;
        };
        if !head.live {
            report.skipped += 1;
            continue;
        }
        let k = {
            let n = seen.entry(v.handle.clone()).or_default();
            *n += 1;
            *n
        };
        let single = count[v.handle.as_str()] == 1;
        let named: Vec<(&String, &String)> = head
            .options
            .iter()
            .zip(&v.values)
            .filter(|(n, val)| !(val.is_empty() || n.eq_ignore_ascii_case("title") && val.as_str() == "Default Title"))
            .collect();
        let id = if !v.sku.is_empty() {
            v.sku.clone()
        } else if single {
            v.handle.clone()
        } else {
            format!("{}-{k}", v.handle)
        };
        let title = if named.is_empty() {
            head.title.clone()
        } else {
            let values: Vec<&str> = named.iter().map(|(_, val)| val.as_str()).collect();
            format!("{} - {}", head.title, values.join(" / "))
        };
        let mut images: Vec<String> = vec![];
        for i in std::iter::once(&v.image).chain(&head.images) {
            if !i.is_empty() && !images.contains(i) {
                images.push(i.clone());
            }
        }
        let product = Product {
            id,
            title,
            description: head.body.clone(),
            category: head.category.clone(),
            brand: head.vendor.clone(),
            price: v.price,
            stock: v.stock,
            tags: head.tags.clone(),
            attributes: named
                .iter()
                .filter(|(n, _)| !n.is_empty())
                .map(|(n, val)| (n.to_lowercase(), val.to_string()))
                .collect(),
            images,
            url: format!("/products/{}", v.handle),
            compare_at_price: v.compare_at,
            gtin: v.barcode.clone(),
            family: v.handle.clone(),
            ..Default::default()
        };
        match product.address_problem() {
            Some(message) => report.bad_rows.push(BadRow { line: v.line, message }),
            None => batch.products.push(product),
        }
    }
    // a product with a title row and no variant row is a product of one variant with no price
    for handle in order.iter().filter(|h| !count.contains_key(h.as_str())) {
        let head = &heads[handle];
        if !head.live {
            report.skipped += 1;
            continue;
        }
        batch.products.push(Product {
            id: handle.clone(),
            title: head.title.clone(),
            description: head.body.clone(),
            category: head.category.clone(),
            brand: head.vendor.clone(),
            tags: head.tags.clone(),
            images: head.images.clone(),
            url: format!("/products/{handle}"),
            family: handle.clone(),
            ..Default::default()
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_of_html_reads_as_text() {
        assert_eq!(
            strip_html("<p>A <b>tin</b> of 12&nbsp;pencils &amp; a sharpener.</p>"),
            "A tin of 12 pencils & a sharpener."
        );
    }
}
