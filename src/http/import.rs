//! Importing into the running shop (an admin or a secret key): `POST /api/import?format=...` with the file as the
//! body (gzipped or not). Formats: `products` and `events` (the generic CSV or JSONL), `shopify` (the product CSV
//! export), `merchant` (a Merchant Center feed, tab-separated or XML). Optional `map=COLUMN=FIELD` (repeatable) and
//! `keep_going=true`, as on the command line. The answer is the import's report; a file that imports nothing or
//! mostly bad rows is refused (422) with its first bad rows, and nothing is written. New and changed products are
//! searchable (and embedded) when the answer comes, while chats go on.
use super::auth::Backend;
use super::{blocking, AppState, HttpError};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::routing::post;
use axum::{Json, Router};

/// The largest file an import takes.
pub const MAX_IMPORT_BYTES: usize = 256 << 20;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/import", post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)))
}

async fn import(
    State(state): State<AppState>,
    Backend(caller): Backend,
    Query(params): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Json<crate::import::ImportReport>, HttpError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let format = get("format").unwrap_or_default().to_string();
    let maps: Vec<String> = params.iter().filter(|(n, _)| n == "map").map(|(_, v)| v.clone()).collect();
    let columns = crate::import::ColumnMap::parse(&maps)?;
    let keep_going = get("keep_going") == Some("true");
    if body.is_empty() {
        return Err(HttpError::bad_request("the request body is the file to import, and it is empty"));
    }
    // the readers tell gzip, JSONL and XML by the file's name
    let gz = body.starts_with(&[0x1f, 0x8b]);
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let ext = match (format.as_str(), first) {
        ("products" | "events", Some(b'{')) => "jsonl",
        ("products" | "events" | "shopify", _) => "csv",
        ("merchant", Some(b'<')) => "xml",
        ("merchant", _) => "tsv",
        _ => {
            let message = format!("format {format:?} is not one of products, events, shopify, merchant");
            return Err(HttpError::bad_request(message));
        }
    };
    let dir = state.config.data_dir.join("uploads");
    let name = format!("{}.{ext}{}", uuid::Uuid::new_v4(), if gz { ".gz" } else { "" });
    let path = dir.join(name);
    let (st, events) = (state.clone(), format == "events");
    let report = blocking(move || -> Result<crate::import::ImportReport, HttpError> {
        std::fs::create_dir_all(&dir).map_err(HttpError::internal)?;
        std::fs::write(&path, &body).map_err(HttpError::internal)?;
        let file = Some(path.clone());
        let mut sources = crate::import::Sources {
            currency: st.config.chat.currency.clone(),
            columns,
            keep_going,
            ..Default::default()
        };
        match format.as_str() {
            "products" => sources.products = file,
            "events" => sources.events = file,
            "shopify" => sources.shopify = file,
            _ => sources.merchant = file,
        }
        let report = crate::import::run_live(&st.store, &st.search, &st.catalog, &sources);
        let _ = std::fs::remove_file(&path);
        Ok(report?)
    })
    .await?;
    // the recommender's item set and behaviour tables follow at its next check
    state.recommender.catalog_changed();
    if events {
        state.recommender.behaviour_changed();
        state.behavior.imported();
    }
    tracing::info!(by = %caller.name(), summary = %report.summary(), "imported through the API");
    Ok(Json(report))
}
