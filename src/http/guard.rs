//! The edge's protection against floods and other sites: open chat sockets per client address, per-address rate
//! limits (new chats, events, sign-ins; `governor`'s keyed GCRA limiters), sign-in lockout after repeated
//! failures, the allowed shop origins (CORS and the WebSocket's Origin check) and the security headers every
//! response carries. Limits come from `[security]` in the configuration.
use crate::config::SecurityConfig;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The client's address (from the accept loop); unspecified where none was recorded (an in-process request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(Self(ip))
    }
}

/// Why a client was turned away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("too many open chats from your address; close one and retry")]
    Sockets,
    #[error("too many requests from your address; retry in a minute")]
    Rate,
    #[error("this account is locked after repeated failed sign-ins; retry in {0} s")]
    Locked(u64),
}

#[derive(Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

pub struct Guard {
    sockets: Mutex<HashMap<IpAddr, usize>>,
    per_client: usize,
    chats: DefaultKeyedRateLimiter<IpAddr>,
    events: DefaultKeyedRateLimiter<IpAddr>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
    failures: Mutex<HashMap<String, Failures>>,
    lockout_after: u32,
    lockout_for: Duration,
    origins: Vec<String>,
}

fn per_minute(n: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    RateLimiter::keyed(Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one")))
}

/// An open chat socket counted against its client address; the count drops with it.
pub struct SocketSlot {
    guard: Arc<Guard>,
    ip: IpAddr,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut m = self.guard.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl Guard {
    pub fn new(cfg: &SecurityConfig) -> Arc<Self> {
        Arc::new(Self {
            sockets: Mutex::default(),
            per_client: cfg.sockets_per_client.max(1),
            chats: per_minute(cfg.chats_per_minute),
            events: per_minute(cfg.events_per_minute),
            logins: per_minute(cfg.logins_per_minute),
            failures: Mutex::default(),
            lockout_after: cfg.lockout_after.max(1),
            lockout_for: Duration::from_secs(cfg.lockout_secs),
            origins: cfg.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect(),
        })
    }

    /// A new chat socket from `ip`: within its rate and its cap of open sockets.
    pub fn open_chat(self: &Arc<Self>, ip: IpAddr) -> Result<SocketSlot, Refused> {
        let mut m = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let open = m.entry(ip).or_default();
        if *open >= self.per_client {
            return Err(Refused::Sockets);
        }
        self.chats.check_key(&ip).map_err(|_| Refused::Rate)?;
        *open += 1;
        Ok(SocketSlot { guard: self.clone(), ip })
    }

    pub fn event_request(&self, ip: IpAddr) -> Result<(), Refused> {
        self.events.check_key(&ip).map_err(|_| Refused::Rate)
    }

    /// Before checking a password: the address's rate and the account's lockout.
    pub fn login_attempt(&self, ip: IpAddr, account: &str) -> Result<(), Refused> {
        self.logins.check_key(&ip).map_err(|_| Refused::Rate)?;
        let m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match m.get(account).and_then(|f| f.locked_until) {
            Some(until) if until > Instant::now() => Err(Refused::Locked((until - Instant::now()).as_secs() + 1)),
            _ => Ok(()),
        }
    }

    /// After checking a password: a success clears the account's failures; the `lockout_after`-th failure in a
    /// row locks it for `lockout_secs`.
    pub fn login_result(&self, account: &str, ok: bool) {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if ok {
            m.remove(account);
            return;
        }
        if m.len() > 100_000 {
            // bounded: made-up account names cannot grow it without end
            m.retain(|_, f| f.locked_until.is_some_and(|t| t > Instant::now()));
        }
        let f = m.entry(account.to_string()).or_default();
        if f.locked_until.is_some_and(|t| t <= Instant::now()) {
            *f = Failures::default();
        }
        f.count += 1;
        if f.count >= self.lockout_after {
            f.locked_until = Some(Instant::now() + self.lockout_for);
            tracing::warn!(account, "staff account locked after repeated failed sign-ins");
        }
    }

    /// Forgets rate-limit state of addresses that have been quiet (housekeeping, so memory stays bounded).
    pub fn tidy(&self) {
        self.chats.retain_recent();
        self.events.retain_recent();
        self.logins.retain_recent();
    }

    /// An origin on the shop's list (`scheme://host[:port]`, compared without case or trailing slash).
    pub fn listed_origin(&self, origin: &str) -> bool {
        let o = origin.trim_end_matches('/').to_ascii_lowercase();
        self.origins.contains(&o)
    }

    /// A browser's Origin is allowed: absent (not a browser page), Aisle's own (same host), or listed.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let own = origin.split_once("://").map(|(_, h)| h.trim_end_matches('/')).is_some_and(|h| h == host);
        own || self.listed_origin(origin)
    }

    /// CORS for the listed origins: the widget's and the shop's calls to the public API (no cookies).
    pub fn cors(self: &Arc<Self>) -> tower_http::cors::CorsLayer {
        use tower_http::cors::{AllowOrigin, CorsLayer};
        let me = self.clone();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |o: &HeaderValue, _| {
                o.to_str().is_ok_and(|o| me.listed_origin(o))
            }))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::HeaderName::from_static("x-aisle-key"),
                header::HeaderName::from_static("x-aisle-identity"),
            ])
            .max_age(Duration::from_secs(600))
    }
}

/// Headers every response carries: no framing by other sites, no type sniffing, a content policy for Aisle's
/// own pages (the widget script served to shops is not affected: a policy applies to the page it is in).
pub fn security_headers(router: axum::Router) -> axum::Router {
    use tower_http::set_header::SetResponseHeaderLayer;
    let csp = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
               img-src 'self' data: https:; connect-src 'self' ws: wss:; frame-ancestors 'none'; \
               base-uri 'self'; form-action 'self'";
    router
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp)))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(f: impl FnOnce(&mut SecurityConfig)) -> Arc<Guard> {
        let mut cfg = SecurityConfig::default();
        f(&mut cfg);
        Guard::new(&cfg)
    }

    #[test]
    fn sockets_are_capped_per_address_and_freed_when_closed() {
        let g = guard(|c| {
            c.sockets_per_client = 2;
            c.chats_per_minute = 100;
        });
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let s1 = g.open_chat(a).unwrap();
        let _s2 = g.open_chat(a).unwrap();
        assert_eq!(g.open_chat(a).err(), Some(Refused::Sockets));
        let _other = g.open_chat(b).expect("another address is not affected");
        drop(s1);
        g.open_chat(a).expect("a closed socket frees its place");
    }

    #[test]
    fn new_chats_are_rate_limited_per_address() {
        let g = guard(|c| c.chats_per_minute = 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            drop(g.open_chat(a).unwrap());
        }
        assert_eq!(g.open_chat(a).err(), Some(Refused::Rate));
        g.open_chat("10.0.0.9".parse().unwrap()).expect("another address has its own budget");
    }

    #[test]
    fn repeated_failures_lock_the_account_and_success_clears_them() {
        let g = guard(|c| {
            c.lockout_after = 3;
            c.logins_per_minute = 100;
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        g.login_result("ann", false);
        g.login_result("ann", false);
        g.login_result("ann", true);
        g.login_result("ann", false);
        g.login_result("ann", false);
        assert!(g.login_attempt(ip, "ann").is_ok(), "a success in between starts the count again");
        g.login_result("ann", false);
        assert!(matches!(g.login_attempt(ip, "ann"), Err(Refused::Locked(_))));
        assert!(g.login_attempt(ip, "bob").is_ok(), "other accounts are not locked");
    }

    #[test]
    fn origins_own_listed_and_absent_pass_others_do_not() {
        let g = guard(|c| c.allowed_origins = vec!["https://shop.example/".into()]);
        let h = |origin: Option<&str>| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_static("aisle.example:8080"));
            if let Some(o) = origin {
                m.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
            }
            m
        };
        assert!(g.origin_allowed(&h(None)));
        assert!(g.origin_allowed(&h(Some("http://aisle.example:8080"))));
        assert!(g.origin_allowed(&h(Some("https://SHOP.example"))));
        assert!(!g.origin_allowed(&h(Some("https://evil.example"))));
        assert!(!g.origin_allowed(&h(Some("https://shop.example.evil.example"))));
    }
}
