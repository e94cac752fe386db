//! Who is asking: the [`Staff`] extractor. A signed-in account (session cookie, HttpOnly, SameSite=Strict) or the
//! configured API token (`Authorization: Bearer`, role admin). Writes made with the cookie must carry the
//! session's CSRF token in `X-CSRF-Token`. Anonymous page requests go to the sign-in form, API requests get 401;
//! a role that may not do something gets 403.
use super::{AppState, HttpError};
use crate::accounts::Role;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

pub const COOKIE: &str = "aisle_staff";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A member of staff, authenticated.
#[derive(Debug, Clone)]
pub struct Staff {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token (None for the API token, which needs none).
    pub csrf: Option<String>,
}

impl Staff {
    /// 403 unless this member's role allows `needed` (admins may do everything).
    pub fn require(&self, needed: Role) -> Result<(), HttpError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(HttpError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this needs the {} role; {} is signed in as {}",
                    needed.as_str(),
                    self.name,
                    self.role.as_str()
                ),
            ))
        }
    }
}

/// Same-length comparison that does not stop at the first difference.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Pages answer an anonymous visitor with the sign-in form; API routes with 401.
fn is_page(path: &str) -> bool {
    path.starts_with("/staff") && !path.starts_with("/staff/api/") && !path.starts_with("/staff/live/")
}

fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<Staff>, HttpError> {
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if let Some(b) = bearer {
        let token = state.config.admin_token.expose();
        return Ok((!token.is_empty() && same(b.as_bytes(), token.as_bytes())).then(|| Staff {
            name: "api-token".into(),
            role: Role::Admin,
            csrf: None,
        }));
    }
    let Some(t) = cookie(headers, COOKIE) else { return Ok(None) };
    let s = state.accounts.session(t)?;
    Ok(s.map(|s| Staff { name: s.name, role: s.role, csrf: Some(s.csrf) }))
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let staff = match identify(state, &parts.headers) {
            Ok(Some(s)) => s,
            Ok(None) if parts.method == Method::GET && is_page(parts.uri.path()) => {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/staff");
                let to = format!("/staff/login?next={}", crate::http::url_encode(next));
                return Err(Redirect::to(&to).into_response());
            }
            Ok(None) => return Err(HttpError::new(StatusCode::UNAUTHORIZED, "staff sign-in required").into_response()),
            Err(e) => return Err(e.into_response()),
        };
        let writes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let (true, Some(csrf)) = (writes, staff.csrf.as_deref()) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !same(sent.as_bytes(), csrf.as_bytes()) {
                return Err(HttpError::new(StatusCode::FORBIDDEN, "missing or wrong CSRF token; reload the page")
                    .into_response());
            }
        }
        Ok(staff)
    }
}

/// Extractors that admit one role (and admins), checked before the request body is read: a wrong role gets 403
/// whatever it sent.
macro_rules! role_extractor {
    ($name:ident, $role:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(pub Staff);

        impl FromRequestParts<AppState> for $name {
            type Rejection = Response;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                let staff = Staff::from_request_parts(parts, state).await?;
                staff.require($role).map_err(IntoResponse::into_response)?;
                Ok(Self(staff))
            }
        }
    };
}

role_extractor!(AsAdmin, Role::Admin, "A signed-in admin (or the API token).");
role_extractor!(AsMarketer, Role::Marketer, "A signed-in marketer or admin.");
role_extractor!(AsSupport, Role::Support, "A signed-in member of support or an admin.");

/// Who is calling the public API: staff (the admin token or a signed-in admin), or the holder of an API key sent
/// as `X-Aisle-Key`. A storefront (publishable key) also says which customer its visitor is, if any, with the
/// shop's signature: `X-Aisle-Identity: CUSTOMER.EXPIRES.SIGNATURE` (an unsigned or bad claim is refused).
#[derive(Debug, Clone)]
pub enum Caller {
    Admin(Staff),
    Secret(crate::keys::ApiKey),
    Publishable { key: crate::keys::ApiKey, customer: Option<crate::identity::CustomerId> },
}

pub const KEY_HEADER: &str = "x-aisle-key";
pub const IDENTITY_HEADER: &str = "x-aisle-identity";

impl Caller {
    /// Who it is, for the log: the staff member's name or the key's.
    pub fn name(&self) -> &str {
        match self {
            Caller::Admin(s) => &s.name,
            Caller::Secret(k) | Caller::Publishable { key: k, .. } => &k.name,
        }
    }

    /// What this caller may write as behaviour events.
    pub fn writer(&self) -> crate::events::Writer {
        match self {
            Caller::Admin(_) | Caller::Secret(_) => crate::events::Writer::Backend,
            Caller::Publishable { customer, .. } => crate::events::Writer::Storefront { customer: customer.clone() },
        }
    }
}

/// The customer a storefront's request speaks for, from `X-Aisle-Identity` (None when absent; an error when the
/// claim does not hold).
fn signed_customer(state: &AppState, headers: &HeaderMap) -> Result<Option<crate::identity::CustomerId>, HttpError> {
    let Some(raw) = headers.get(IDENTITY_HEADER) else { return Ok(None) };
    let bad = |why: String| HttpError::new(StatusCode::UNAUTHORIZED, format!("X-Aisle-Identity refused: {why}"));
    let raw = raw.to_str().map_err(|_| bad("not text".into()))?;
    let mut parts = raw.trim().splitn(3, '.');
    let (Some(customer), Some(expires), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected CUSTOMER.EXPIRES.SIGNATURE".into()));
    };
    let expires: u64 = expires.parse().map_err(|_| bad("the expiry is not a number".into()))?;
    state
        .identity
        .verify(customer, Some(expires), Some(sig), crate::session::now())
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(presented) = parts.headers.get(KEY_HEADER) {
            let presented = presented.to_str().unwrap_or("").trim().to_string();
            let keys = state.keys.clone();
            let found = super::blocking(move || keys.check(&presented)).await.map_err(IntoResponse::into_response)?;
            let Some(key) = found else {
                return Err(HttpError::new(StatusCode::UNAUTHORIZED, "unknown or revoked API key").into_response());
            };
            return Ok(match key.kind {
                crate::keys::KeyKind::Secret => Caller::Secret(key),
                crate::keys::KeyKind::Publishable => {
                    let customer = signed_customer(state, &parts.headers).map_err(IntoResponse::into_response)?;
                    Caller::Publishable { key, customer }
                }
            });
        }
        match identify(state, &parts.headers) {
            Ok(Some(_)) => Ok(Caller::Admin(AsAdmin::from_request_parts(parts, state).await?.0)),
            Ok(None) => Err(HttpError::new(
                StatusCode::UNAUTHORIZED,
                "an API key is required (X-Aisle-Key: a publishable key from the storefront, a secret key from the \
                 shop's backend)",
            )
            .into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// A reader of shopper-facing API data: any member of staff, or an API key (a publishable key reads only for its
/// own visitor: see [`StaffOrKey::may_read_for`]).
pub enum StaffOrKey {
    Staff(Staff),
    Key(Caller),
}

impl StaffOrKey {
    /// Whether this reader may see `user`'s personal results: staff and the secret key for anyone, a publishable
    /// key for an anonymous visitor id or the customer signed in its `X-Aisle-Identity`.
    pub fn may_read_for(&self, user: &str) -> bool {
        match self {
            StaffOrKey::Staff(_) | StaffOrKey::Key(Caller::Secret(_) | Caller::Admin(_)) => true,
            StaffOrKey::Key(Caller::Publishable { customer, .. }) => {
                customer.as_ref().is_some_and(|c| c.as_str() == user) || crate::identity::is_anonymous(user)
            }
        }
    }
}

impl FromRequestParts<AppState> for StaffOrKey {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(KEY_HEADER) {
            return Caller::from_request_parts(parts, state).await.map(StaffOrKey::Key);
        }
        Staff::from_request_parts(parts, state).await.map(StaffOrKey::Staff)
    }
}

/// The shop's backend: an admin (the token or a signed-in admin) or the holder of a secret key. Catalog changes
/// need it; a publishable key is refused with 403.
pub struct Backend(pub Caller);

impl FromRequestParts<AppState> for Backend {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Publishable { .. } => Err(HttpError::new(
                StatusCode::FORBIDDEN,
                "a publishable key cannot change the catalog (use the secret key, from the shop's backend)",
            )
            .into_response()),
            c => Ok(Self(c)),
        }
    }
}
