//! API keys with scopes, sent as `X-Aisle-Key`. A *publishable* key (`aisle_pk_…`) goes in the storefront's page:
//! it may send its own visitor's view, click, add-to-cart, search and card-click events and read that visitor's
//! recommendations. A *secret* key (`aisle_sk_…`) stays on the shop's backend: purchases, attribution sources,
//! any user. Keys are 256 random bits; only their SHA-256 is stored (a key of that entropy needs no slow hash),
//! so a key is shown once, when it is made. Revoked keys stay listed, refused.
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// For the storefront's page: its own visitor's behaviour events and recommendations.
    Publishable,
    /// For the shop's backend: purchases, attribution, any user.
    Secret,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Publishable => "publishable",
            KeyKind::Secret => "secret",
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            KeyKind::Publishable => "aisle_pk_",
            KeyKind::Secret => "aisle_sk_",
        }
    }
}

/// A key as stored: never the key itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiKey {
    /// Short public id for listing and revoking (not part of the key).
    pub id: String,
    pub name: String,
    pub kind: KeyKind,
    pub created: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<u64>,
    /// The key's first characters, so staff can tell keys apart (`aisle_pk_3f9c…`).
    pub hint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key names are 1-60 characters")]
    BadName,
    #[error("no key with id {0:?}")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for KeyError {
    fn from(e: sled::Error) -> Self {
        Self::Store(e.into())
    }
}

fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The keys in the store (tree `api_keys`, by the key's SHA-256). Cloning is shallow.
#[derive(Clone)]
pub struct Keys {
    store: Store,
}

impl Keys {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Makes a key; returns its record and the key itself, which is not kept and cannot be shown again.
    pub fn add(&self, name: &str, kind: KeyKind) -> Result<(ApiKey, String), KeyError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(KeyError::BadName);
        }
        let key = format!("{}{}", kind.prefix(), crate::accounts::random_token());
        let record = ApiKey {
            id: crate::accounts::random_token()[..12].to_string(),
            name: name.to_string(),
            kind,
            created: crate::session::now(),
            revoked: None,
            hint: format!("{}…", &key[..kind.prefix().len() + 4]),
        };
        self.store.put_api_key(digest(&key).as_bytes(), &record)?;
        Ok((record, key))
    }

    pub fn list(&self) -> Result<Vec<ApiKey>, KeyError> {
        let mut all: Vec<ApiKey> = self.store.api_keys()?.into_iter().map(|(_, k)| k).collect();
        all.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Refuses the key from now on (it stays listed as revoked).
    pub fn revoke(&self, id: &str) -> Result<ApiKey, KeyError> {
        for (k, mut record) in self.store.api_keys::<ApiKey>()? {
            if record.id == id {
                record.revoked.get_or_insert(crate::session::now());
                self.store.put_api_key(&k, &record)?;
                return Ok(record);
            }
        }
        Err(KeyError::Unknown(id.to_string()))
    }

    /// Revokes every live key of this name (the demo page's key is made afresh at each start).
    pub fn revoke_named(&self, name: &str) -> Result<usize, KeyError> {
        let live: Vec<String> =
            self.list()?.into_iter().filter(|k| k.name == name && k.revoked.is_none()).map(|k| k.id).collect();
        for id in &live {
            self.revoke(id)?;
        }
        Ok(live.len())
    }

    /// The live key record for a presented key, if any. The lookup is by the key's digest, so no comparison of
    /// the key itself can leak timing.
    pub fn check(&self, presented: &str) -> Result<Option<ApiKey>, KeyError> {
        if !presented.starts_with("aisle_") || presented.len() > 200 {
            return Ok(None);
        }
        let record: Option<ApiKey> = self.store.api_key(digest(presented).as_bytes())?;
        Ok(record.filter(|r| r.revoked.is_none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_checks_until_revoked_and_is_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let keys = Keys::new(store.clone());
        let (pk, pk_key) = keys.add("storefront", KeyKind::Publishable).unwrap();
        let (_, sk_key) = keys.add("backend", KeyKind::Secret).unwrap();
        assert!(pk_key.starts_with("aisle_pk_") && sk_key.starts_with("aisle_sk_"));
        assert_eq!(keys.check(&pk_key).unwrap().unwrap().kind, KeyKind::Publishable);
        assert_eq!(keys.check(&sk_key).unwrap().unwrap().kind, KeyKind::Secret);
        assert!(keys.check("aisle_sk_guessed").unwrap().is_none());
        // nothing in the tree holds the key itself
        for (_, k, v) in store.dump().unwrap().into_iter().filter(|(t, _, _)| t == "api_keys") {
            for bytes in [&k[..], &v[..]] {
                let text = String::from_utf8_lossy(bytes);
                assert!(!text.contains(&pk_key[9..]) && !text.contains(&sk_key[9..]), "{text}");
            }
        }
        keys.revoke(&pk.id).unwrap();
        assert!(keys.check(&pk_key).unwrap().is_none(), "a revoked key is refused");
        assert!(keys.list().unwrap().iter().any(|k| k.id == pk.id && k.revoked.is_some()));
        assert!(matches!(keys.revoke("nope"), Err(KeyError::Unknown(_))));
    }
}
