//! What a new experiment must be before it runs: names, variants and their weights, what each variant may change
//! on its surface, the horizon and the window.
use super::{ExperimentError, NewExperiment, Surface, Unit, Variant};

fn invalid(m: impl Into<String>) -> ExperimentError {
    ExperimentError::Invalid(m.into())
}

impl NewExperiment {
    /// Checks everything a running experiment relies on.
    pub fn validate(&self) -> Result<(), ExperimentError> {
        let name_ok = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name_ok(&self.name, 48) {
            return Err(invalid("name: 1-48 letters, digits, - or _"));
        }
        if !(2..=6).contains(&self.variants.len()) {
            return Err(invalid("an experiment has 2 to 6 variants (the first is the control)"));
        }
        if self.description.len() > 500 {
            return Err(invalid("description: at most 500 characters"));
        }
        if self.unit == Unit::Session && self.surface != Surface::Chat {
            return Err(invalid("session units exist in the chat only; use unit \"shopper\""));
        }
        if !(100..=10_000_000).contains(&self.planned_units) {
            return Err(invalid("planned_units (per variant): 100 to 10,000,000"));
        }
        if !(1..=90).contains(&self.window_days) {
            return Err(invalid("window_days: 1 to 90"));
        }
        for (i, v) in self.variants.iter().enumerate() {
            self.validate_variant(v)?;
            if self.variants[..i].iter().any(|o| o.name == v.name) {
                return Err(invalid(format!("variant {:?} is named twice", v.name)));
            }
        }
        if self.variants.iter().all(|v| v.holdout) {
            return Err(invalid("at least one variant must not be a holdout"));
        }
        Ok(())
    }

    fn validate_variant(&self, v: &Variant) -> Result<(), ExperimentError> {
        let name_ok = !v.name.is_empty()
            && v.name.len() <= 32
            && v.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid(format!("variant name {:?}: 1-32 letters, digits, - or _", v.name)));
        }
        if !(v.weight.is_finite() && v.weight > 0.0 && v.weight <= 1000.0) {
            return Err(invalid(format!("variant {:?}: weight must be above 0 (at most 1000)", v.name)));
        }
        let what = |s: &str| invalid(format!("variant {:?}: {s}", v.name));
        let changes = v.ranking.is_some()
            || v.prompts.is_some()
            || v.chat_model.is_some()
            || v.blend.is_some()
            || v.model.is_some();
        if v.holdout && (changes || v.value.is_some()) {
            return Err(what("a holdout changes nothing else"));
        }
        if v.holdout && self.surface == Surface::Storefront {
            return Err(what("a storefront experiment has no holdout: give the variant a value"));
        }
        match self.surface {
            Surface::Chat if v.blend.is_some() || v.model.is_some() || v.value.is_some() => {
                return Err(what("a chat variant sets ranking, prompts or chat_model"))
            }
            Surface::Chat
                if v.prompts.as_ref().is_some_and(|p| {
                    !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') || p.is_empty()
                }) =>
            {
                return Err(what("prompts names a set under prompts/sets/ (letters, digits, - or _)"))
            }
            Surface::Recommend
                if v.ranking.is_some() || v.prompts.is_some() || v.chat_model.is_some() || v.value.is_some() =>
            {
                return Err(what("a recommend variant sets blend or model"))
            }
            Surface::Storefront
                if v.ranking.is_some() || v.prompts.is_some() || v.blend.is_some() || v.model.is_some() =>
            {
                return Err(what("a storefront variant sets value"))
            }
            _ => {}
        }
        if let Some(r) = v.ranking {
            let all = [r.relevance, r.history, r.popularity, r.bought_before, r.personal];
            if all.iter().any(|w| !w.is_finite() || !(0.0..=10.0).contains(w)) {
                return Err(what("ranking weights are 0 to 10"));
            }
        }
        if let Some(b) = v.blend {
            let weights_ok = [b.knn, b.seq].iter().all(|w| w.is_finite() && (0.0..=100.0).contains(w));
            let decay_ok = b.seq_decay.is_finite() && b.seq_decay > 0.0 && b.seq_decay <= 1.0;
            if !(weights_ok && decay_ok) {
                return Err(what("blend: knn and seq 0 to 100, seq_decay above 0 to 1"));
            }
        }
        if v.value.as_ref().is_some_and(|s| s.is_empty() || s.len() > 200) {
            return Err(what("value: 1 to 200 characters"));
        }
        Ok(())
    }
}
