//! Experiments and their exposures. An exposure's key is `experiment \0 unit`, so a unit is exposed once and one
//! experiment's exposures are one prefix scan; its value names the shopper whose events are its outcomes.
use super::{get, put, scan, Store, StoreError};
use serde::{de::DeserializeOwned, Serialize};

fn exposure_key(experiment: &str, unit: &str) -> Vec<u8> {
    format!("{experiment}\u{0}{unit}").into_bytes()
}

/// The `user` of a stored exposure, read without knowing the record's type.
fn user_of(value: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Who {
        user: String,
    }
    serde_json::from_slice::<Who>(value).ok().map(|w| w.user)
}

impl Store {
    pub fn experiments<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        scan(&self.experiments, b"")
    }

    pub fn put_experiment<T: Serialize>(&self, name: &str, e: &T) -> Result<(), StoreError> {
        put(&self.experiments, name, e)?;
        self.experiments.flush()?;
        Ok(())
    }

    /// Stores a unit's exposure unless it has one. Returns the one it had (None: this one was stored).
    pub fn add_exposure<T: Serialize + DeserializeOwned>(
        &self,
        experiment: &str,
        unit: &str,
        x: &T,
    ) -> Result<Option<T>, StoreError> {
        let key = exposure_key(experiment, unit);
        let value = serde_json::to_vec(x)?;
        match self.exposures.compare_and_swap(&key, None as Option<&[u8]>, Some(value))? {
            Ok(()) => Ok(None),
            Err(_) => get(&self.exposures, &key),
        }
    }

    /// One experiment's exposures, in unit order.
    pub fn exposures<T: DeserializeOwned>(&self, experiment: &str) -> Result<Vec<T>, StoreError> {
        let mut prefix = experiment.as_bytes().to_vec();
        prefix.push(0);
        scan(&self.exposures, &prefix)
    }

    /// The exposures whose shopper is one of `users` (an export, a deletion), as raw JSON.
    pub fn exposures_of(&self, users: &[String]) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut out = vec![];
        for v in self.exposures.iter().values() {
            let v = v?;
            if user_of(&v).is_some_and(|u| users.contains(&u)) {
                out.push(serde_json::from_slice(&v)?);
            }
        }
        Ok(out)
    }

    /// Removes every exposure of these shoppers, and those whose unit is one of them (not flushed).
    pub fn remove_user_exposures(&self, users: &[String]) -> Result<usize, StoreError> {
        let mut n = 0;
        for kv in self.exposures.iter() {
            let (k, v) = kv?;
            let unit = k.iter().position(|b| *b == 0).map(|i| &k[i + 1..]).unwrap_or_default();
            let unit = String::from_utf8_lossy(unit);
            if user_of(&v).is_some_and(|u| users.contains(&u)) || users.iter().any(|u| *u == unit) {
                self.exposures.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Points the exposures of `from` (an anonymous session that signed in) at `to`, so its later purchases count.
    pub fn merge_user_exposures(&self, from: &str, to: &str) -> Result<usize, StoreError> {
        let mut n = 0;
        for kv in self.exposures.iter() {
            let (k, v) = kv?;
            if user_of(&v).as_deref() == Some(from) {
                let mut x: serde_json::Value = serde_json::from_slice(&v)?;
                x["user"] = serde_json::Value::String(to.to_string());
                put(&self.exposures, k, &x)?;
                n += 1;
            }
        }
        Ok(n)
    }
}
