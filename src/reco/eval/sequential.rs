//! The sequential model in the evaluation: trained on a split and scored alone.
use super::*;
use crate::reco::neural::{NeuralModel, Progress, Start};

/// Trains the sequential model on the split and scores it alone, beside a SASRec-class reference trained on the
/// same split ([`SeqHyper::sasrec`]).
pub(super) fn run_sequential<W: Write>(
    run: &mut SplitRun<'_, W>,
    opts: &Options,
) -> Result<NeuralModel, crate::reco::RecoError> {
    let (data, split, label) = (run.data, run.split, run.label);
    let nh = SeqHyper { seed: opts.hyper.seed, ..opts.sequential.clone().unwrap_or_default() };
    let (neural, report) = NeuralModel::train(data, &split.train, &split.valid, &nh, Start::Fresh, run.threads, |p| {
        if let Progress::Epoch { epoch, loss, valid } = p {
            eprintln!("  {label:<6}   sequential epoch {epoch:>3}: loss {loss:.4}, validation NDCG@10 {valid:.4}");
        }
    })?;
    run.row("Aisle sequential model only", report.seconds, |u| neural.scores(&split.train.histories[u as usize], None));
    // the reference it is measured against, in the same run: SASRec's shape on the same windows and validation
    let rh = SeqHyper { seed: opts.hyper.seed, ..SeqHyper::sasrec() };
    let (reference, report) =
        NeuralModel::train(data, &split.train, &split.valid, &rh, Start::Fresh, run.threads, |p| {
            if let Progress::Epoch { epoch, loss, valid } = p {
                eprintln!(
                    "  {label:<6}   SASRec-class epoch {epoch:>3}: loss {loss:.4}, validation NDCG@10 {valid:.4}"
                );
            }
        })?;
    run.row("SASRec-class reference (2 blocks, ids, full softmax)", report.seconds, |u| {
        reference.scores(&split.train.histories[u as usize], None)
    });
    Ok(neural)
}
