//! The one error edge: every domain error becomes an [`HttpError`] here (`?` in a handler does it), with the status
//! it deserves and a message the client can act on. Internal causes are never shown; they ride on the response as an
//! extension and the [`log_errors`] middleware logs them once, with the request id, method and path.
use crate::accounts::AccountError;
use crate::copy::CopyError;
use crate::keys::KeyError;
use crate::prompts::TemplateError;
use crate::search::SearchError;
use crate::store::StoreError;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// An error page or JSON body with a clear message; the cause is logged, not shown.
#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub message: String,
    /// What really went wrong, for the log (internal errors only).
    cause: Option<String>,
}

/// The logged cause of an internal error, carried from the handler to [`log_errors`].
#[derive(Clone)]
struct Cause(String);

impl HttpError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), cause: None }
    }

    /// Something broke on our side: the client gets a fixed message, the log gets the cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "something went wrong on our side; it has been logged".into(),
            cause: Some(cause.to_string()),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response();
        if let Some(c) = self.cause {
            r.extensions_mut().insert(Cause(c));
        }
        r
    }
}

/// Runs blocking work (the store, the index, the models) off the async workers; its error and a panic in it both
/// become an [`HttpError`].
pub async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, HttpError>
where
    T: Send + 'static,
    E: Into<HttpError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(HttpError::internal)?.map_err(Into::into)
}

/// Logs every internal error once, with the request's id (`x-request-id`), method and path.
pub async fn log_errors(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    let response = next.run(req).await;
    if let Some(Cause(cause)) = response.extensions().get::<Cause>() {
        tracing::error!(request = %id, %method, %path, status = response.status().as_u16(), error = %cause, "internal error");
    }
    response
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Locked(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            _ => Self::internal(e),
        }
    }
}

impl From<SearchError> for HttpError {
    fn from(e: SearchError) -> Self {
        Self::internal(e)
    }
}

impl From<crate::reco::RecoError> for HttpError {
    fn from(e: crate::reco::RecoError) -> Self {
        match e {
            crate::reco::RecoError::Store(e) => e.into(),
            crate::reco::RecoError::Model(crate::reco::model::ModelError::Empty) => Self::unprocessable(e.to_string()),
            _ => Self::internal(e),
        }
    }
}

impl From<crate::shopper_data::DataError> for HttpError {
    fn from(e: crate::shopper_data::DataError) -> Self {
        match e {
            crate::shopper_data::DataError::Store(e) => e.into(),
            crate::shopper_data::DataError::Reco(e) => e.into(),
            crate::shopper_data::DataError::Io(e) => Self::internal(e),
        }
    }
}

impl From<crate::orders::OrderError> for HttpError {
    fn from(e: crate::orders::OrderError) -> Self {
        match e {
            crate::orders::OrderError::Store(e) => e.into(),
            crate::orders::OrderError::Invalid(m) => Self::bad_request(m),
            crate::orders::OrderError::NotFound(_) => Self::not_found(e.to_string()),
        }
    }
}

impl From<crate::import::ImportError> for HttpError {
    fn from(e: crate::import::ImportError) -> Self {
        match e {
            crate::import::ImportError::Store(e) => e.into(),
            crate::import::ImportError::Format { .. }
            | crate::import::ImportError::Rejected { .. }
            | crate::import::ImportError::Mapping(..) => Self::unprocessable(e.to_string()),
            _ => Self::internal(e),
        }
    }
}

/// Errors that can only mean a fault on our side: writing a download, serialising, the transcript index, a blocking
/// task that panicked.
macro_rules! internal_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for HttpError {
            fn from(e: $t) -> Self {
                Self::internal(e)
            }
        }
    )*};
}

internal_errors!(
    csv::Error,
    csv::IntoInnerError<csv::Writer<Vec<u8>>>,
    serde_json::Error,
    crate::transcripts::TranscriptIndexError,
    crate::intent::IntentError,
    tokio::task::JoinError
);

impl From<crate::support::SupportError> for HttpError {
    fn from(e: crate::support::SupportError) -> Self {
        match e {
            crate::support::SupportError::Store(e) => e.into(),
            crate::support::SupportError::NoIndex => Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            _ => Self::internal(e),
        }
    }
}

impl From<TemplateError> for HttpError {
    fn from(e: TemplateError) -> Self {
        Self::internal(e)
    }
}

impl From<KeyError> for HttpError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(e) => e.into(),
            KeyError::Unknown(_) => Self::not_found(e.to_string()),
            KeyError::BadName => Self::unprocessable(e.to_string()),
        }
    }
}

impl From<AccountError> for HttpError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(_) | AccountError::Hash(_) => Self::internal(e),
            AccountError::Unknown(_) => Self::not_found(e.to_string()),
            _ => Self::unprocessable(e.to_string()),
        }
    }
}

impl From<CopyError> for HttpError {
    fn from(e: CopyError) -> Self {
        match e {
            CopyError::UnknownProduct(_) | CopyError::UnknownTemplate(_) | CopyError::UnknownVariant(_) => {
                Self::not_found(e.to_string())
            }
            CopyError::BadParam { .. } | CopyError::Rejected(_) => Self::unprocessable(e.to_string()),
            // a shop's own template: the marketer can fix it, so they are told what is wrong (and it is logged)
            CopyError::Template(_) | CopyError::Spec { .. } => {
                let mut out = Self::unprocessable(format!("a copy template is broken: {e}"));
                out.cause = Some(e.to_string());
                out
            }
            CopyError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_errors_get_the_status_they_deserve_and_internal_detail_stays_out_of_the_body() {
        let e: HttpError = KeyError::Unknown("k1".into()).into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e: HttpError = StoreError::Locked("/data/sled".into()).into();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        let e: HttpError = StoreError::Json(serde_json::from_str::<u8>("x").unwrap_err()).into();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("JSON"), "{}", e.message);
        let r = e.into_response();
        assert!(r.extensions().get::<Cause>().is_some_and(|c| c.0.contains("JSON")));
    }
}
