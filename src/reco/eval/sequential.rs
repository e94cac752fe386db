//! The sequential model in the evaluation: trained on a split and scored alone.
use super::*;
use crate::reco::neural::{NeuralModel, Start};

/// Trains the sequential model on the split and scores it alone.
pub(super) fn run_sequential<W: Write>(
    run: &mut SplitRun<'_, W>,
    opts: &Options,
) -> Result<NeuralModel, crate::reco::RecoError> {
    let (data, split, label) = (run.data, run.split, run.label);
    let nh = SeqHyper { seed: opts.hyper.seed, ..opts.sequential.clone().unwrap_or_default() };
    let (neural, report) =
        NeuralModel::train(data, &split.train, &split.valid, &nh, Start::Fresh, run.threads, |epoch, loss, valid| {
            eprintln!("  {label:<6}   sequential epoch {epoch:>3}: loss {loss:.4}, validation NDCG@10 {valid:.4}");
        })?;
    run.row("Aisle sequential model only", report.seconds, |u| neural.scores(&split.train.histories[u as usize], None));
    Ok(neural)
}
