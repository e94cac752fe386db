//! The recommender: behaviour data and splits ([`data`]), the trained model ([`model`]), and its offline
//! evaluation against simple baselines ([`eval`]).
pub mod data;
pub mod eval;
pub mod knn;
pub mod model;
pub mod neural;
pub mod profile;
pub mod rules;
pub mod serve;

/// What can go wrong training, installing, evaluating or re-serving the recommender.
#[derive(Debug, thiserror::Error)]
pub enum RecoError {
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error(transparent)]
    Neural(#[from] neural::NeuralError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("recommender files: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}
