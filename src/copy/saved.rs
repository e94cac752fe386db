//! Saved copy variants, what each led to (clicks, carts, purchases attributed by `source`), the list and its CSV.
use super::*;

/// A variant a marketer saved. Its id goes into links and events (`source`) so clicks are attributed to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub product: String,
    pub product_title: String,
    pub template: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub segment: Option<String>,
    pub text: String,
    pub issues: Vec<Issue>,
    /// `draft` or `approved`.
    pub status: String,
    pub author: String,
    #[serde(default)]
    pub approved_by: Option<String>,
    pub created: u64,
    pub updated: u64,
}

/// Clicks, carts and purchases recorded with a variant's id as their source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Attribution {
    pub clicks: usize,
    pub carts: usize,
    pub purchases: usize,
}

pub fn attribution(store: &Store) -> Result<std::collections::HashMap<String, Attribution>, StoreError> {
    use crate::store::EventKind;
    let mut out: std::collections::HashMap<String, Attribution> = Default::default();
    for e in store.sourced_events()? {
        if let Some(src) = e.source {
            let a = out.entry(src).or_default();
            match e.kind {
                EventKind::Click | EventKind::RecommendationClicked | EventKind::View => a.clicks += 1,
                EventKind::AddToCart => a.carts += 1,
                EventKind::Purchase => a.purchases += 1,
                _ => {}
            }
        }
    }
    Ok(out)
}

/// A saved variant with what it led to (the copy studio's list and export).
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub saved: Saved,
    pub attributed: Attribution,
}

/// Saved variants (newest first), only those of `status` unless it is empty, each with its attribution.
pub fn listed(store: &Store, status: &str) -> Result<Vec<Listed>, StoreError> {
    let attr = attribution(store)?;
    Ok(SavedCopy::new(store.clone())
        .list()?
        .into_iter()
        .filter(|s| status.is_empty() || s.status == status)
        .map(|s| Listed { attributed: attr.get(&s.id).cloned().unwrap_or_default(), saved: s })
        .collect())
}

/// The list as CSV: one row per variant (parameters `k=v` joined with `;`, issues with `; `).
pub fn csv(rows: &[Listed]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record([
        "id",
        "status",
        "product",
        "product_title",
        "template",
        "params",
        "segment",
        "text",
        "issues",
        "author",
        "approved_by",
        "clicks",
        "carts",
        "purchases",
    ])?;
    for Listed { saved: s, attributed: a } in rows {
        let params: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let issues: Vec<&str> = s.issues.iter().map(|i| i.detail.as_str()).collect();
        w.write_record([
            s.id.as_str(),
            &s.status,
            &s.product,
            &s.product_title,
            &s.template,
            &params.join(";"),
            s.segment.as_deref().unwrap_or(""),
            &s.text,
            &issues.join("; "),
            &s.author,
            s.approved_by.as_deref().unwrap_or(""),
            &a.clicks.to_string(),
            &a.carts.to_string(),
            &a.purchases.to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

pub struct SavedCopy {
    store: Store,
}

impl SavedCopy {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn list(&self) -> Result<Vec<Saved>, StoreError> {
        let mut v: Vec<Saved> = self.store.all_saved_copy()?;
        v.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.id.cmp(&b.id)));
        Ok(v)
    }

    pub fn get(&self, id: &str) -> Result<Option<Saved>, StoreError> {
        self.store.saved_copy(id)
    }

    pub fn put(&self, s: &Saved) -> Result<(), StoreError> {
        self.store.put_saved_copy(&s.id, s)
    }

    pub fn new_id() -> String {
        format!("cv-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
    }
}
