//! Staff accounts and their signed-in sessions, in sled. Passwords are hashed with argon2 (PHC strings, a fresh
//! salt each); a session is a random token held in an HttpOnly cookie, with its own CSRF token for writes.
use crate::store::{Store, StoreError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

/// How long a sign-in lasts.
pub const SESSION_SECONDS: u64 = 12 * 3600;
pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including accounts and deleting a shopper's data.
    Admin,
    /// The copy studio and recommendation previews.
    Marketer,
    /// Transcripts, the handoff queue and live takeover.
    Support,
}

impl Role {
    /// Admins may do what any role may.
    pub fn allows(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketer => "marketer",
            Role::Support => "support",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// argon2id PHC string.
    hash: String,
    pub created: u64,
}

/// A signed-in member of staff.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignedIn {
    pub name: String,
    pub role: Role,
    /// Sent back by the page in `X-CSRF-Token` with every write.
    pub csrf: String,
    pub expires: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("account names are 1-40 letters, digits, '.', '-' or '_'")]
    BadName,
    #[error("passwords need at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    #[error("an account named {0:?} already exists")]
    Exists(String),
    #[error("no account named {0:?}")]
    Unknown(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for AccountError {
    fn from(e: sled::Error) -> Self {
        Self::Store(e.into())
    }
}

/// 256 random bits, hex (from the OS generator behind UUID v4).
pub fn random_token() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    a.as_bytes().iter().chain(b.as_bytes()).map(|x| format!("{x:02x}")).collect()
}

fn valid_name(n: &str) -> bool {
    (1..=40).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn hash(password: &str) -> Result<String, AccountError> {
    let salt =
        SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// The accounts in the store. Cloning is shallow.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
}

impl Accounts {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn add(&self, name: &str, role: Role, password: &str) -> Result<(), AccountError> {
        if !valid_name(name) {
            return Err(AccountError::BadName);
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AccountError::WeakPassword);
        }
        let account = Account { name: name.into(), role, hash: hash(password)?, created: crate::session::now() };
        if !self.store.add_staff(name, &account)? {
            return Err(AccountError::Exists(name.into()));
        }
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<Account>, AccountError> {
        Ok(self.store.staff()?)
    }

    /// Removes the account and signs it out everywhere.
    pub fn remove(&self, name: &str) -> Result<(), AccountError> {
        // a session that cannot be read is signed out too
        let signs_out = |s: Option<SignedIn>| s.is_none_or(|s| s.name == name);
        if !self.store.remove_staff(name, signs_out)? {
            return Err(AccountError::Unknown(name.into()));
        }
        Ok(())
    }

    /// Checks a password; on success opens a session and returns its token. The same work is done for an unknown
    /// name, so timing does not tell which names exist.
    pub fn sign_in(&self, name: &str, password: &str) -> Result<Option<(String, SignedIn)>, AccountError> {
        let account: Option<Account> = if valid_name(name) { self.store.staff_member(name)? } else { None };
        // a fixed, valid hash to verify against when the name is unknown
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| hash("not a real password").unwrap_or_default());
        let phc = account.as_ref().map_or(dummy.as_str(), |a| a.hash.as_str());
        let ok =
            PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
        let Some(account) = account.filter(|_| ok) else { return Ok(None) };
        let token = random_token();
        let session = SignedIn {
            name: account.name,
            role: account.role,
            csrf: random_token(),
            expires: crate::session::now() + SESSION_SECONDS,
        };
        self.store.put_staff_session(&token, &session)?;
        Ok(Some((token, session)))
    }

    /// The live session for a token (expired ones are removed).
    pub fn session(&self, token: &str) -> Result<Option<SignedIn>, AccountError> {
        if token.len() != 64 {
            return Ok(None);
        }
        let Some(s) = self.store.staff_session::<SignedIn>(token)? else { return Ok(None) };
        if s.expires <= crate::session::now() {
            self.store.remove_staff_session(token, false)?;
            return Ok(None);
        }
        Ok(Some(s))
    }

    pub fn sign_out(&self, token: &str) -> Result<(), AccountError> {
        self.store.remove_staff_session(token, true)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> (tempfile::TempDir, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::new(Store::open(dir.path()).unwrap());
        (dir, a)
    }

    #[test]
    fn a_password_signs_in_only_with_itself_and_is_stored_hashed() {
        let (_d, a) = accounts();
        a.add("mia", Role::Marketer, "correct horse battery").unwrap();
        assert!(a.sign_in("mia", "wrong horse battery").unwrap().is_none());
        assert!(a.sign_in("nobody", "correct horse battery").unwrap().is_none());
        let (token, s) = a.sign_in("mia", "correct horse battery").unwrap().unwrap();
        assert_eq!((s.name.as_str(), s.role), ("mia", Role::Marketer));
        assert_eq!(a.session(&token).unwrap(), Some(s.clone()));
        assert_ne!(s.csrf, token);
        let stored = String::from_utf8(
            a.store.dump().unwrap().into_iter().find(|(t, k, _)| t == "staff" && k == b"mia").unwrap().2,
        )
        .unwrap();
        assert!(stored.contains("$argon2id$") && !stored.contains("correct horse"), "{stored}");
        a.sign_out(&token).unwrap();
        assert_eq!(a.session(&token).unwrap(), None);
    }

    #[test]
    fn bad_names_weak_passwords_and_duplicates_are_refused() {
        let (_d, a) = accounts();
        assert!(matches!(a.add("a b", Role::Admin, "long enough pw"), Err(AccountError::BadName)));
        assert!(matches!(a.add("ann", Role::Admin, "short"), Err(AccountError::WeakPassword)));
        a.add("ann", Role::Admin, "long enough pw").unwrap();
        assert!(matches!(a.add("ann", Role::Support, "another long pw"), Err(AccountError::Exists(_))));
    }

    #[test]
    fn removing_an_account_signs_it_out() {
        let (_d, a) = accounts();
        a.add("sam", Role::Support, "long enough pw").unwrap();
        let (token, _) = a.sign_in("sam", "long enough pw").unwrap().unwrap();
        a.remove("sam").unwrap();
        assert_eq!(a.session(&token).unwrap(), None);
        assert!(matches!(a.remove("sam"), Err(AccountError::Unknown(_))));
    }

    #[test]
    fn admins_may_do_what_any_role_may_and_others_only_their_own() {
        assert!(Role::Admin.allows(Role::Support) && Role::Admin.allows(Role::Marketer));
        assert!(Role::Support.allows(Role::Support) && !Role::Support.allows(Role::Marketer));
        assert!(!Role::Marketer.allows(Role::Admin));
    }
}
