//! Signed shopper identity, as chat widgets verify it: the shop's backend signs the customer id with the shop's
//! secret (HMAC-SHA256 over `id:expires`, hex), the page passes id, expiry and signature to the widget, and Aisle
//! checks them in constant time. An unsigned, expired or tampered claim is an anonymous visitor: no orders, no
//! purchase history. The secret is `identity.secret` (`AISLE_IDENTITY_SECRET`); without one, a random secret is
//! made once and kept in `DATA_DIR/identity.key` (mode 0600), which `aisle identity sign` also reads.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// The longest a signature may be valid for (a shop signs per page view or per login, not for ever).
pub const MAX_VALIDITY_SECS: u64 = 31 * 86_400;

/// A customer id as the store keeps it (1-64 letters, digits, `-` and `_`), checked once where it comes in: a
/// signed claim ([`Verifier::verify`]) or the command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(c: &str) -> Result<Self, ClaimError> {
        let ok = !c.is_empty() && c.len() <= 64 && c.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(c.to_string()))
        } else {
            Err(ClaimError::BadCustomer)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for CustomerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whose data a request or an event is about: a customer id, an anonymous id the widget made
/// (`session:…`, `visitor:…`), or an id from imported events; 1-64 letters, digits, `-`, `_`, `:` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShopperId(String);

/// What a shopper id may be, for error messages.
pub const SHOPPER_ID_RULE: &str = "a shopper id is 1-64 letters, digits, '-', '_', ':' or '.'";

impl ShopperId {
    pub fn parse(u: &str) -> Option<Self> {
        let ok = !u.is_empty()
            && u.len() <= 64
            && u.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
        ok.then(|| Self(u.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a user id is one the widget makes for a visitor who is not signed in: `session:` or `visitor:` and
/// 16-100 letters, digits, `-` or `_`, so it cannot be guessed from another visitor's (a storefront may write and
/// read for such ids without a signature).
pub fn is_anonymous(user: &str) -> bool {
    let Some((prefix, id)) = user.split_once(':') else { return false };
    matches!(prefix, "session" | "visitor")
        && (16..=100).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("customer id is not valid (1-64 letters, digits, '-' or '_')")]
    BadCustomer,
    #[error("the customer id is not signed")]
    Unsigned,
    #[error("the signature is not 64 hex digits")]
    Malformed,
    #[error("the signature has expired")]
    Expired,
    #[error("the expiry is more than {} days ahead", MAX_VALIDITY_SECS / 86_400)]
    TooLong,
    #[error("the signature does not match")]
    Forged,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("identity secret {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("identity secret in {0} is shorter than 32 characters")]
    Short(String),
}

/// The shop's identity secret and whether unsigned ids are trusted (development only).
#[derive(Clone)]
pub struct Verifier {
    secret: Vec<u8>,
    trust_unsigned: bool,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("trust_unsigned", &self.trust_unsigned).finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(secret: impl Into<Vec<u8>>, trust_unsigned: bool) -> Self {
        Self { secret: secret.into(), trust_unsigned }
    }

    /// The configured secret, else the one kept in `data_dir/identity.key` (made on first use).
    pub fn load(configured: &str, data_dir: &Path, trust_unsigned: bool) -> Result<Self, SecretError> {
        if !configured.is_empty() {
            return Ok(Self::new(configured.as_bytes().to_vec(), trust_unsigned));
        }
        Ok(Self::new(stored_secret(data_dir)?, trust_unsigned))
    }

    pub fn trusts_unsigned(&self) -> bool {
        self.trust_unsigned
    }

    /// The hex signature of `customer` until `expires` (Unix seconds).
    pub fn sign(&self, customer: &str, expires: u64) -> String {
        self.mac(customer, expires).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(&self, customer: &str, expires: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(customer.as_bytes());
        mac.update(b":");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// Checks a claim at time `now`: Ok with the customer id when it holds (compared in constant time).
    pub fn verify(
        &self,
        customer: &str,
        expires: Option<u64>,
        signature: Option<&str>,
        now: u64,
    ) -> Result<CustomerId, ClaimError> {
        let id = CustomerId::parse(customer)?;
        let (Some(expires), Some(signature)) = (expires, signature.filter(|s| !s.is_empty())) else {
            return if self.trust_unsigned { Ok(id) } else { Err(ClaimError::Unsigned) };
        };
        let sig = decode_hex(signature).ok_or(ClaimError::Malformed)?;
        // the signature is checked before the times, so a forged claim says "forged" whatever its expiry
        self.mac(customer, expires).verify_slice(&sig).map_err(|_| ClaimError::Forged)?;
        if expires <= now {
            return Err(ClaimError::Expired);
        }
        if expires > now + MAX_VALIDITY_SECS {
            return Err(ClaimError::TooLong);
        }
        Ok(id)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The secret kept in `data_dir/identity.key`, made (256 random bits, hex, mode 0600) when missing.
pub fn stored_secret(data_dir: &Path) -> Result<Vec<u8>, SecretError> {
    let path = data_dir.join("identity.key");
    let io = |source| SecretError::Io { path: path.display().to_string(), source };
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => return Err(SecretError::Short(path.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let secret = crate::accounts::random_token();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(&path) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(secret.as_bytes()).and_then(|_| f.sync_all()).map_err(io)?;
            tracing::info!(path = %path.display(), "made a new identity secret for signing shopper ids");
            Ok(secret.into_bytes())
        }
        // another process made it at the same moment: read theirs
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => stored_secret(data_dir),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_signed_id_verifies_and_every_change_to_it_is_refused() {
        let v = Verifier::new(b"shop-secret-of-enough-length-000".to_vec(), false);
        let exp = NOW + 3600;
        let sig = v.sign("17850", exp);
        assert_eq!(sig.len(), 64);
        assert_eq!(v.verify("17850", Some(exp), Some(&sig), NOW), CustomerId::parse("17850"));
        // another customer, another expiry, another key, a flipped digit
        assert_eq!(v.verify("17851", Some(exp), Some(&sig), NOW), Err(ClaimError::Forged));
        assert_eq!(v.verify("17850", Some(exp + 1), Some(&sig), NOW), Err(ClaimError::Forged));
        let other = Verifier::new(b"another-shop-secret-000000000000".to_vec(), false);
        assert_eq!(other.verify("17850", Some(exp), Some(&sig), NOW), Err(ClaimError::Forged));
        let mut flipped = sig.clone().into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(v.verify("17850", Some(exp), Some(&flipped), NOW), Err(ClaimError::Forged));
        assert_eq!(v.verify("17850", Some(exp), Some("zz"), NOW), Err(ClaimError::Malformed));
        assert_eq!(v.verify("17850", Some(exp), Some(&sig[..62]), NOW), Err(ClaimError::Malformed));
    }

    #[test]
    fn ids_are_checked_by_one_rule_each() {
        assert_eq!(CustomerId::parse("cust_17850-a").map(|c| c.to_string()), Ok("cust_17850-a".to_string()));
        for bad in ["", "a b", "a:b", "a.b", &"x".repeat(65)] {
            assert_eq!(CustomerId::parse(bad), Err(ClaimError::BadCustomer), "{bad:?}");
        }
        // a shopper id also takes the anonymous and imported forms
        for ok in ["17850", "session:0123456789abcdef", "visitor:a.b", "x".repeat(64).as_str()] {
            assert!(ShopperId::parse(ok).is_some(), "{ok:?}");
        }
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert!(ShopperId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(is_anonymous("session:0123456789abcdef"));
        assert!(is_anonymous("visitor:0123456789abcdef-_"));
        assert!(!is_anonymous("visitor:short"), "too short to be unguessable");
        assert!(!is_anonymous("customer:0123456789abcdef"));
        assert!(!is_anonymous("17850"));
    }

    #[test]
    fn expired_too_long_unsigned_and_bad_ids_are_refused() {
        let v = Verifier::new(b"shop-secret-of-enough-length-000".to_vec(), false);
        let past = NOW - 1;
        assert_eq!(v.verify("17850", Some(past), Some(&v.sign("17850", past)), NOW), Err(ClaimError::Expired));
        let far = NOW + MAX_VALIDITY_SECS + 10;
        assert_eq!(v.verify("17850", Some(far), Some(&v.sign("17850", far)), NOW), Err(ClaimError::TooLong));
        assert_eq!(v.verify("17850", None, None, NOW), Err(ClaimError::Unsigned));
        assert_eq!(v.verify("17850", Some(NOW + 5), None, NOW), Err(ClaimError::Unsigned));
        assert_eq!(v.verify("a b", None, None, NOW), Err(ClaimError::BadCustomer));
        // development setting: an unsigned id is trusted, a signed one is still checked
        let dev = Verifier::new(b"shop-secret-of-enough-length-000".to_vec(), true);
        assert_eq!(dev.verify("17850", None, None, NOW), CustomerId::parse("17850"));
        assert_eq!(dev.verify("17850", Some(NOW + 5), Some(&"0".repeat(64)), NOW), Err(ClaimError::Forged));
    }

    #[test]
    fn the_stored_secret_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = stored_secret(dir.path()).unwrap();
        let b = stored_secret(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("identity.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
