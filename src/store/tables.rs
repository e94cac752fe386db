//! The other records, one small group of methods per domain. Records whose type belongs to a domain (chat
//! sessions, staff accounts, API keys, saved copy) are generic here, so the store does not depend on the domains.
use super::{get, put, scan, Order, Store, StoreError};
use crate::catalog::Product;
use serde::{de::DeserializeOwned, Serialize};

/// The catalog.
impl Store {
    pub fn products(&self) -> Result<Vec<Product>, StoreError> {
        scan(&self.products, b"")
    }

    pub fn product(&self, id: &str) -> Result<Option<Product>, StoreError> {
        get(&self.products, id)
    }

    pub fn product_count(&self) -> usize {
        self.products.len()
    }

    /// Every product id, in key order.
    pub fn product_ids(&self) -> Result<Vec<String>, StoreError> {
        self.products.iter().keys().map(|k| Ok(String::from_utf8_lossy(&k?).into_owned())).collect()
    }

    /// Adds or replaces products (not flushed).
    pub fn put_products<'a>(&self, products: impl IntoIterator<Item = &'a Product>) -> Result<(), StoreError> {
        self.changing(|| {
            for p in products {
                put(&self.products, &p.id, p)?;
            }
            Ok(())
        })
    }

    /// Removes a product (not flushed); false when there was none.
    pub fn remove_product(&self, id: &str) -> Result<bool, StoreError> {
        self.changing(|| Ok(self.products.remove(id.as_bytes())?.is_some()))
    }
}

/// Orders.
impl Store {
    pub fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        get(&self.orders, id)
    }

    pub fn put_orders<'a>(&self, orders: impl IntoIterator<Item = &'a Order>) -> Result<(), StoreError> {
        for o in orders {
            put(&self.orders, &o.id, o)?;
        }
        Ok(())
    }

    /// Every order, in id order.
    pub fn all_orders(&self) -> Result<Vec<Order>, StoreError> {
        scan(&self.orders, b"")
    }

    /// One customer's orders, in id order.
    pub fn orders_of(&self, customer: &str) -> Result<Vec<Order>, StoreError> {
        let all: Vec<Order> = scan(&self.orders, b"")?;
        Ok(all.into_iter().filter(|o| o.customer == customer).collect())
    }

    /// Removes orders (not flushed); returns how many existed.
    pub fn remove_orders(&self, ids: &[&str]) -> Result<usize, StoreError> {
        let mut n = 0;
        for id in ids {
            n += usize::from(self.orders.remove(id.as_bytes())?.is_some());
        }
        Ok(n)
    }
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

const VECTORS_MODEL_KEY: &str = "vectors.model";

/// Product vectors, with the model that made them.
impl Store {
    /// The model the stored vectors were made by, if any.
    pub fn vectors_model(&self) -> Result<Option<String>, StoreError> {
        get(&self.meta, VECTORS_MODEL_KEY)
    }

    /// Every stored vector by product id, in id order.
    pub fn vectors(&self) -> Result<Vec<(String, Vec<f32>)>, StoreError> {
        let mut out = vec![];
        for kv in self.vectors.iter() {
            let (k, v) = kv?;
            out.push((String::from_utf8_lossy(&k).into_owned(), floats(&v)));
        }
        Ok(out)
    }

    /// Forgets every stored vector and records the model that will make the new ones.
    pub fn reset_vectors(&self, model_id: &str) -> Result<(), StoreError> {
        self.changing(|| {
            self.vectors.clear()?;
            put(&self.meta, VECTORS_MODEL_KEY, model_id)
        })
    }

    pub fn put_vector(&self, id: &str, v: &[f32]) -> Result<(), StoreError> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.changing(|| Ok(self.vectors.insert(id.as_bytes(), bytes).map(drop)?))
    }

    pub fn remove_vector(&self, id: &str) -> Result<(), StoreError> {
        self.changing(|| Ok(self.vectors.remove(id.as_bytes()).map(drop)?))
    }

    pub fn flush_vectors(&self) -> Result<(), StoreError> {
        self.vectors.flush()?;
        Ok(())
    }
}

/// Settings and reports kept by name (brand rules, the last import).
impl Store {
    pub fn setting<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        get(&self.meta, key)
    }

    /// Saves a setting and flushes.
    pub fn put_setting<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        put(&self.meta, key, value)?;
        self.flush()
    }
}

/// Chat sessions by id.
impl Store {
    pub fn session<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, StoreError> {
        get(&self.sessions, id)
    }

    pub fn sessions<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        scan(&self.sessions, b"")
    }

    /// Saves a session (not flushed: see [`Store::flush_sessions`]).
    pub fn put_session<T: Serialize>(&self, id: &str, s: &T) -> Result<(), StoreError> {
        put(&self.sessions, id, s)
    }

    /// Removes a session (not flushed); false when there was none.
    pub fn remove_session(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.sessions.remove(id)?.is_some())
    }

    pub fn flush_sessions(&self) -> Result<(), StoreError> {
        self.sessions.flush()?;
        Ok(())
    }
}

/// Staff accounts by name and signed-in staff sessions by token.
impl Store {
    /// Adds an account and flushes; false (and nothing written) when the name is taken.
    pub fn add_staff<T: Serialize>(&self, name: &str, account: &T) -> Result<bool, StoreError> {
        let bytes = serde_json::to_vec(account)?;
        let fresh = self.staff.compare_and_swap(name, None as Option<&[u8]>, Some(bytes))?.is_ok();
        if fresh {
            self.flush()?;
        }
        Ok(fresh)
    }

    pub fn staff_member<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        get(&self.staff, name)
    }

    pub fn staff<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        scan(&self.staff, b"")
    }

    /// Removes an account and every staff session `signs_out` picks, then flushes; false when there was none.
    pub fn remove_staff<T: DeserializeOwned>(
        &self,
        name: &str,
        signs_out: impl Fn(Option<T>) -> bool,
    ) -> Result<bool, StoreError> {
        if self.staff.remove(name)?.is_none() {
            return Ok(false);
        }
        for kv in self.staff_sessions.iter() {
            let (k, v) = kv?;
            if signs_out(serde_json::from_slice::<T>(&v).ok()) {
                self.staff_sessions.remove(k)?;
            }
        }
        self.flush()?;
        Ok(true)
    }

    pub fn staff_session<T: DeserializeOwned>(&self, token: &str) -> Result<Option<T>, StoreError> {
        get(&self.staff_sessions, token)
    }

    /// Saves a staff session and flushes.
    pub fn put_staff_session<T: Serialize>(&self, token: &str, s: &T) -> Result<(), StoreError> {
        put(&self.staff_sessions, token, s)?;
        self.flush()
    }

    /// Removes a staff session; `durable` flushes (a sign-out), otherwise the removal is lazy (an expiry).
    pub fn remove_staff_session(&self, token: &str, durable: bool) -> Result<(), StoreError> {
        self.staff_sessions.remove(token)?;
        if durable {
            self.flush()?;
        }
        Ok(())
    }
}

/// API keys by the digest of the key.
impl Store {
    pub fn api_key<T: DeserializeOwned>(&self, digest: &[u8]) -> Result<Option<T>, StoreError> {
        get(&self.api_keys, digest)
    }

    /// Every key record with its digest.
    pub fn api_keys<T: DeserializeOwned>(&self) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut out = vec![];
        for kv in self.api_keys.iter() {
            let (k, v) = kv?;
            out.push((k.to_vec(), serde_json::from_slice(&v)?));
        }
        Ok(out)
    }

    /// Saves a key record and flushes its tree.
    pub fn put_api_key<T: Serialize>(&self, digest: &[u8], record: &T) -> Result<(), StoreError> {
        put(&self.api_keys, digest, record)?;
        self.api_keys.flush()?;
        Ok(())
    }
}

/// Saved marketing copy by id.
impl Store {
    pub fn saved_copy<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, StoreError> {
        get(&self.copy, id)
    }

    pub fn all_saved_copy<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        scan(&self.copy, b"")
    }

    /// Saves a copy variant and flushes.
    pub fn put_saved_copy<T: Serialize>(&self, id: &str, c: &T) -> Result<(), StoreError> {
        put(&self.copy, id, c)?;
        self.flush()
    }
}
