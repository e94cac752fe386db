//! Training for serving: the model (and the sequential model beside it) trained on the store and installed in the
//! model folder, where [`Recommender::reload_if_changed`] finds it.
use super::install::{installed_model, sequential_file};
use super::*;
use crate::reco::neural::Progress;

/// Whether training for serving trains the sequential model too, and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SequentialTraining {
    /// The model alone (the blend without the sequential model).
    Off,
    /// Continued from the served sequential model on the new events only, when it has the same shapes (else fresh).
    #[default]
    Warm,
    /// From scratch on every event.
    Fresh,
}

impl std::str::FromStr for SequentialTraining {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "warm" => Ok(Self::Warm),
            "fresh" => Ok(Self::Fresh),
            _ => Err(format!("{s:?}: expected off, warm or fresh")),
        }
    }
}

impl std::fmt::Display for SequentialTraining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Warm => "warm",
            Self::Fresh => "fresh",
        })
    }
}

/// Retrains on everything in the store and installs the model (what `aisle train` and the retrain API both do; a
/// running server then swaps it in with [`Recommender::reload_if_changed`]).
pub fn retrain(
    data_dir: &Path,
    store: &Store,
    hyper: &Hyper,
    sequential: SequentialTraining,
) -> Result<PathBuf, crate::reco::RecoError> {
    let data = Dataset::from_store(store)?;
    train_and_install(data_dir, &data, hyper, sequential)
}

/// Trains on everything in `data` and installs the model as `DATA_DIR/recommender/model-<version>.bin` (and the
/// sequential model as `sequential-<version>.bin`); the previous version stays for a quick roll-back.
pub fn train_and_install(
    data_dir: &Path,
    data: &Dataset,
    hyper: &Hyper,
    sequential: SequentialTraining,
) -> Result<PathBuf, crate::reco::RecoError> {
    let dir = model_dir(data_dir);
    let served = match sequential {
        SequentialTraining::Warm => installed_model(&dir).1,
        _ => None,
    };
    let plan = (sequential != SequentialTraining::Off).then(|| crate::reco::eval::SequentialPlan {
        hyper: {
            let h = crate::reco::neural::SeqHyper::default();
            crate::reco::neural::SeqHyper { epochs: h.epochs.min(hyper.epochs), ..h }
        },
        from: served.as_ref(),
    });
    let bar = crate::progress::progress(hyper.epochs as u64, "epochs");
    let seq_bar = std::cell::OnceCell::new();
    let trained = crate::reco::eval::train_for_serving(
        data,
        hyper,
        plan,
        |epoch, loss, valid| {
            bar.set_position(epoch as u64);
            bar.set_message(format!("loss {loss:.4}, validation NDCG@10 {valid:.4}"));
        },
        |p| {
            // one bar over the most epochs' batches (early stopping may end it sooner)
            match p {
                Progress::Batch { epoch, done, of } => {
                    let b = seq_bar.get_or_init(|| {
                        bar.finish_and_clear();
                        crate::progress::progress((hyper.epochs * of) as u64, "sequential model batches")
                    });
                    b.set_position(((epoch - 1) * of + done) as u64);
                }
                Progress::Epoch { epoch, loss, valid } => {
                    if let Some(b) = seq_bar.get() {
                        b.set_message(format!("epoch {epoch}: loss {loss:.4}, validation NDCG@10 {valid:.4}"));
                    }
                }
            }
        },
    )?;
    match seq_bar.get() {
        Some(b) => b.finish_and_clear(),
        None => bar.finish_and_clear(),
    }
    let mut model = trained.model;
    let r = model.report().clone();
    println!(
        "trained on {} shoppers, {} products: {} epochs (best {}, validation NDCG@10 {:.4}) in {:.1} s; blend {:?}",
        data.users.len(),
        data.items.len(),
        r.epochs,
        r.best_epoch,
        r.best_valid_ndcg,
        r.seconds,
        model.weights()
    );
    if let Some(s) = &trained.sequential {
        let r = s.report();
        println!(
            "sequential model ({}): {} epochs (best {}, validation NDCG@10 {:.4}) in {:.1} s; its weight in the blend {}",
            if trained.warm { "continued on the new events" } else { "from scratch" },
            r.epochs,
            r.best_epoch,
            r.best_valid_ndcg,
            r.seconds,
            model.weights().sequential
        );
    }
    std::fs::create_dir_all(&dir)?;
    let version =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let name = format!("model-{version}.bin");
    if let Some(mut s) = trained.sequential {
        s.save(&sequential_file(&dir, version), version)?;
    }
    model.save(&dir.join(&name), version)?;
    let tmp = dir.join("current.tmp");
    std::fs::write(&tmp, &name)?;
    std::fs::rename(&tmp, dir.join("current"))?;
    // keep the previous version for a quick roll-back, remove older ones
    for kind in ["model-", "sequential-"] {
        let mut old: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with(kind)))
            .filter(|p| !p.to_string_lossy().ends_with(&format!("-{version}.bin")))
            .collect();
        old.sort();
        for p in old.iter().rev().skip(1) {
            let _ = std::fs::remove_file(p);
        }
    }
    Ok(dir.join(name))
}
