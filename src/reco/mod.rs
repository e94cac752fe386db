//! The recommender: behaviour data and splits ([`data`]), the trained model ([`model`]), and its offline
//! evaluation against simple baselines ([`eval`]).
pub mod data;
pub mod eval;
pub mod knn;
pub mod model;
pub mod profile;
pub mod serve;
