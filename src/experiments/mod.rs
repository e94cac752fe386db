//! Experiments: a name, a unit (shopper or chat session), variants with weights, where it acts (the chat, the
//! `/api/recommend` placements, or the storefront, which asks for a variant and shows it) and what each variant
//! changes (the chat's ranking weights, prompt template set or chat model, the recommender's blend weights or model version,
//! a value such as a copy variant's id, or
//! nothing at all: a holdout that sees the shop without Aisle). Assignment is a hash of the experiment's salt and
//! the unit's id, so it is the same on every server and every visit; the first time a variant changes what a unit
//! sees, an exposure is stored once, and only exposed units are analysed (`results`). Stopping an experiment
//! freezes it: nobody is assigned or exposed any more and everyone gets the shop's defaults.
pub mod results;
pub mod stats;
mod validate;

use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};

/// Where an experiment acts (and so when a unit is exposed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    /// The chat widget. With a holdout variant every unit is exposed when the widget connects (a holdout's widget
    /// stays hidden); otherwise when a turn first shows product cards.
    Chat,
    /// `GET /api/recommend`: exposed by the first call for the unit.
    Recommend,
    /// The shop's own pages: `GET /api/experiments/{name}/assign` answers the variant and exposes the unit.
    Storefront,
}

/// What an experiment's units are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A customer id or an anonymous visitor id: the same variant on every visit.
    Shopper,
    /// One chat session (chat experiments only).
    Session,
}

/// The chat ranker's weights a variant sets (see `recommend::Blend`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankingWeights {
    pub relevance: f32,
    pub history: f32,
    pub popularity: f32,
    pub bought_before: f32,
    pub personal: f32,
}

impl From<RankingWeights> for crate::recommend::Blend {
    fn from(w: RankingWeights) -> Self {
        Self {
            relevance: w.relevance,
            history: w.history,
            popularity: w.popularity,
            bought_before: w.bought_before,
            personal: w.personal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    /// Relative share of units (any positive numbers).
    pub weight: f64,
    /// Aisle off for these units: no chat widget, no `/api/recommend` picks.
    #[serde(default)]
    pub holdout: bool,
    /// Chat experiments: the ranking weights (absent: the shop's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<RankingWeights>,
    /// Chat experiments: a prompt template set (`prompts/sets/NAME/`) in front of the shop's templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<String>,
    /// Chat experiments: another configured chat model (`llm.alternatives`) speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_model: Option<String>,
    /// Recommend experiments: the served blend's weights (absent: the trained model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blend: Option<crate::reco::eval::Weights>,
    /// Recommend experiments: another trained model version from the model folder (absent: the installed one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<u64>,
    /// Storefront experiments: what the shop shows (a copy variant's id, a layout name...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub surface: Surface,
    pub unit: Unit,
    /// The first variant is the control every other is compared with.
    pub variants: Vec<Variant>,
    /// Mixed into the assignment hash, so two experiments split the same shoppers independently.
    pub salt: String,
    /// Units per variant at which the result is read (the fixed horizon: intervals before it are interim).
    pub planned_units: u64,
    /// Days after a unit's exposure in which its clicks, carts and purchases count.
    pub window_days: u32,
    /// Unix seconds.
    pub started: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<u64>,
}

impl Experiment {
    pub fn running(&self) -> bool {
        self.stopped.is_none()
    }

    /// The unit's variant: a hash of salt and unit id placed on the variants' cumulative weights.
    pub fn assign(&self, unit: &str) -> &Variant {
        let digest = Sha256::digest(format!("{}:{unit}", self.salt).as_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        let total: f64 = self.variants.iter().map(|v| v.weight).sum();
        let at = (u64::from_be_bytes(head) >> 11) as f64 / (1u64 << 53) as f64 * total;
        let mut sum = 0.0;
        for v in &self.variants {
            sum += v.weight;
            if at < sum {
                return v;
            }
        }
        &self.variants[self.variants.len() - 1]
    }

    pub fn has_holdout(&self) -> bool {
        self.variants.iter().any(|v| v.holdout)
    }
}

/// A unit's first exposure to an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    pub experiment: String,
    pub unit: String,
    /// Whose events are its outcomes (the unit itself, or the shopper of a session).
    pub user: String,
    pub variant: String,
    /// ISO-8601 (UTC).
    pub at: String,
}

/// An experiment as the API and the staff page create it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExperiment {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub surface: Surface,
    #[serde(default = "shopper")]
    pub unit: Unit,
    pub variants: Vec<Variant>,
    #[serde(default = "planned")]
    pub planned_units: u64,
    #[serde(default = "window")]
    pub window_days: u32,
}

fn shopper() -> Unit {
    Unit::Shopper
}
fn planned() -> u64 {
    1000
}
fn window() -> u32 {
    14
}

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("{0}")]
    Invalid(String),
    #[error("no experiment named {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The shop's experiments: stored, with a copy in memory for the request path. Cloning is shallow.
#[derive(Clone)]
pub struct Experiments {
    store: Store,
    all: Arc<RwLock<Arc<Vec<Arc<Experiment>>>>>,
}

/// A unit's variant of a running experiment, with the exposure that records it.
#[derive(Debug, Clone)]
pub struct Treatment {
    pub experiment: Arc<Experiment>,
    pub variant: Variant,
}

impl Experiments {
    pub fn open(store: Store) -> Result<Self, StoreError> {
        let x = Self { store, all: Arc::default() };
        x.reload()?;
        Ok(x)
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Experiment>>> {
        self.all.read().map(|a| a.clone()).unwrap_or_default()
    }

    fn reload(&self) -> Result<(), StoreError> {
        let all = self.store.experiments::<Experiment>()?;
        if let Ok(mut a) = self.all.write() {
            *a = Arc::new(all.into_iter().map(Arc::new).collect());
        }
        Ok(())
    }

    pub fn list(&self) -> Vec<Experiment> {
        self.snapshot().iter().map(|e| e.as_ref().clone()).collect()
    }

    pub fn get(&self, name: &str) -> Result<Experiment, ExperimentError> {
        let found = self.snapshot().iter().find(|e| e.name == name).map(|e| e.as_ref().clone());
        found.ok_or_else(|| ExperimentError::NotFound(name.into()))
    }

    /// Creates and starts an experiment. Names are never reused (exposures stay with the name); one running
    /// experiment per surface for the chat and the recommend placements, whose variants would otherwise overlap.
    pub fn create(&self, new: NewExperiment, now: u64) -> Result<Experiment, ExperimentError> {
        new.validate()?;
        let all = self.snapshot();
        if all.iter().any(|e| e.name == new.name) {
            return Err(ExperimentError::Conflict(format!("an experiment named {:?} exists already", new.name)));
        }
        if new.surface != Surface::Storefront {
            if let Some(e) = all.iter().find(|e| e.surface == new.surface && e.running()) {
                return Err(ExperimentError::Conflict(format!(
                    "{:?} is running on the same surface; stop it first",
                    e.name
                )));
            }
        }
        let salt = uuid::Uuid::new_v4().simple().to_string();
        let e = Experiment {
            name: new.name,
            description: new.description,
            surface: new.surface,
            unit: new.unit,
            variants: new.variants,
            salt,
            planned_units: new.planned_units,
            window_days: new.window_days,
            started: now,
            stopped: None,
        };
        self.store.put_experiment(&e.name, &e)?;
        self.reload()?;
        Ok(e)
    }

    /// Stops an experiment: assignment and exposures freeze, everyone gets the defaults.
    pub fn stop(&self, name: &str, now: u64) -> Result<Experiment, ExperimentError> {
        let mut e = self.get(name)?;
        if e.stopped.is_none() {
            e.stopped = Some(now);
            self.store.put_experiment(&e.name, &e)?;
            self.reload()?;
        }
        Ok(e)
    }

    /// The running experiment on `surface` (chat, recommend), if any.
    pub fn running_on(&self, surface: Surface) -> Option<Arc<Experiment>> {
        // shared, not copied: this runs on every chat message and recommend request
        self.snapshot().iter().find(|e| e.surface == surface && e.running()).cloned()
    }

    /// The unit's variant of a running experiment (None when it is stopped: the defaults).
    pub fn treatment(&self, e: &Arc<Experiment>, unit: &str) -> Option<Treatment> {
        e.running().then(|| Treatment { experiment: e.clone(), variant: e.assign(unit).clone() })
    }

    /// Records the unit's exposure unless it has one; returns the variant it was exposed to (its first).
    pub fn expose(&self, t: &Treatment, unit: &str, user: &str, now: u64) -> Result<String, StoreError> {
        let x = Exposure {
            experiment: t.experiment.name.clone(),
            unit: unit.to_string(),
            user: user.to_string(),
            variant: t.variant.name.clone(),
            at: crate::prompts::datetime_iso(now),
        };
        Ok(self.store.add_exposure(&x.experiment, unit, &x)?.unwrap_or(x).variant)
    }

    pub fn exposures(&self, name: &str) -> Result<Vec<Exposure>, StoreError> {
        self.store.exposures(name)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

#[cfg(test)]
mod tests;
