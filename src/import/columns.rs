//! Column names: the fields of the two kinds of import file (products and events) with the names other systems
//! give them, the shop's own mapping (`--map COLUMN=FIELD`), and how names are compared (`normalise`).
use super::ImportError;
use std::collections::BTreeMap;

/// The shop's own column names and the fields they hold (`Item Number` -> `id`), compared normalised.
#[derive(Debug, Default, Clone)]
pub struct ColumnMap(BTreeMap<String, String>);

impl ColumnMap {
    /// Reads `COLUMN=FIELD` pairs; the field must be one a products or events file has.
    pub fn parse(pairs: &[String]) -> Result<Self, ImportError> {
        let known: Vec<&str> = Table::Products.fields().chain(Table::Events.fields()).collect();
        let mut map = BTreeMap::new();
        for pair in pairs {
            let Some((column, field)) = pair.split_once('=') else {
                return Err(ImportError::Mapping(pair.clone(), "expected COLUMN=FIELD".into()));
            };
            let field = normalise(field);
            if !known.contains(&field.as_str()) {
                let why = format!("{field:?} is not a field; the fields are {}", known.join(", "));
                return Err(ImportError::Mapping(pair.clone(), why));
            }
            map.insert(normalise(column), field);
        }
        Ok(Self(map))
    }

    /// The (column, field) pairs, as given.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(c, f)| (c.as_str(), f.as_str()))
    }

    /// The field a (normalised) column is mapped to.
    pub fn field(&self, column: &str) -> Option<&str> {
        self.0.get(column).map(String::as_str)
    }
}

/// The two kinds of file, with the names other systems give their fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Table {
    Products,
    Events,
}

impl Table {
    /// Each field with the other names it goes by (compared after `normalise`).
    pub(super) fn aliases(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Table::Products => &[
                (
                    "id",
                    &[
                        "product_id",
                        "productid",
                        "sku",
                        "item_id",
                        "itemid",
                        "product_code",
                        "stock_code",
                        "stockcode",
                        "code",
                        "article_id",
                        "variant_sku",
                    ],
                ),
                ("title", &["name", "product_name", "product_title", "item_name", "title_en"]),
                ("price", &["unit_price", "unitprice", "sale_price", "current_price", "price_amount", "variant_price"]),
                ("description", &["desc", "body", "body_html", "product_description", "details", "long_description"]),
                (
                    "category",
                    &[
                        "categories",
                        "category_path",
                        "product_category",
                        "product_type",
                        "department",
                        "google_product_category",
                    ],
                ),
                ("brand", &["manufacturer", "vendor", "make", "brand_name"]),
                (
                    "stock",
                    &[
                        "inventory",
                        "inventory_quantity",
                        "quantity_in_stock",
                        "stock_level",
                        "stock_quantity",
                        "qty_in_stock",
                        "variant_inventory_qty",
                    ],
                ),
                ("rating", &["average_rating", "avg_rating", "stars", "review_score", "average_review_rating"]),
                ("reviews", &["review_text", "customer_reviews", "review"]),
                ("tags", &["keywords", "labels", "tag"]),
                ("attributes", &["properties", "specs", "specifications", "attrs"]),
                ("images", &["image", "image_url", "image_link", "image_src", "picture", "photo", "thumbnail"]),
                ("url", &["link", "product_url", "page_url", "permalink", "product_link"]),
                (
                    "compare_at_price",
                    &["list_price", "original_price", "was_price", "msrp", "rrp", "variant_compare_at_price"],
                ),
                ("gtin", &["ean", "upc", "barcode", "isbn", "variant_barcode"]),
                ("mpn", &["manufacturer_part_number", "part_number"]),
                ("family", &["item_group_id", "group_id", "parent_id", "parent_sku", "handle", "product_group"]),
            ],
            Table::Events => &[
                (
                    "user",
                    &[
                        "user_id",
                        "userid",
                        "customer",
                        "customer_id",
                        "customerid",
                        "visitor_id",
                        "visitorid",
                        "client_id",
                        "shopper",
                        "shopper_id",
                        "session_user",
                    ],
                ),
                (
                    "product",
                    &["product_id", "productid", "item", "item_id", "itemid", "sku", "stock_code", "stockcode"],
                ),
                ("kind", &["event", "event_type", "eventtype", "type", "action", "event_name", "interaction"]),
                (
                    "timestamp",
                    &[
                        "time",
                        "ts",
                        "date",
                        "datetime",
                        "event_time",
                        "eventtime",
                        "created_at",
                        "occurred_at",
                        "invoice_date",
                        "invoicedate",
                    ],
                ),
                (
                    "order",
                    &["order_id", "orderid", "invoice", "invoice_no", "invoiceno", "transaction_id", "transactionid"],
                ),
                ("quantity", &["qty", "units", "count"]),
                ("price", &["unit_price", "unitprice", "amount", "item_price"]),
            ],
        }
    }

    /// The fields a row cannot be read without.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Table::Products => &["id", "title"],
            Table::Events => &["user", "product", "timestamp"],
        }
    }

    /// Every field this kind of file has.
    pub fn fields(self) -> impl Iterator<Item = &'static str> {
        self.aliases().iter().map(|(f, _)| *f)
    }

    /// The field a column holds: the shop's mapping first, then the field's own name, then the names other
    /// systems give it; `None` for a column Aisle does not read.
    pub(super) fn field_of(self, column: &str, columns: &ColumnMap) -> Option<&'static str> {
        let c = normalise(column);
        if let Some(f) = columns.field(&c) {
            return self.fields().find(|x| *x == f);
        }
        self.aliases().iter().find(|(f, names)| *f == c || names.contains(&c.as_str())).map(|(f, _)| *f)
    }

    /// Renames a file's columns to the fields they hold: a field named by the shop's mapping or by its own name
    /// wins over a column that only goes by one of its other names, and of those the first column wins; the
    /// others, and columns read by nothing, keep their name (and are not read).
    pub(super) fn rename(self, columns: &[String], map: &ColumnMap) -> Vec<String> {
        let direct = |c: &str| {
            let n = normalise(c);
            map.field(&n).and_then(|f| self.fields().find(|x| *x == f)).or_else(|| self.fields().find(|f| *f == n))
        };
        let mut taken: Vec<&str> = columns.iter().filter_map(|c| direct(c)).collect();
        columns
            .iter()
            .map(|c| {
                if let Some(f) = direct(c) {
                    return f.to_string();
                }
                match self.field_of(c, map) {
                    Some(f) if !taken.contains(&f) => {
                        taken.push(f);
                        f.to_string()
                    }
                    Some(_) => format!("(unused) {c}"),
                    None => c.clone(),
                }
            })
            .collect()
    }
}

/// A column name as compared: lower case, spaces, dashes and dots as `_`, a byte-order mark and quotes gone.
pub fn normalise(column: &str) -> String {
    column
        .trim_start_matches('\u{feff}')
        .trim()
        .trim_matches('"')
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' || c == '.' { '_' } else { c })
        .collect()
}
