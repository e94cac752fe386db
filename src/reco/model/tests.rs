use super::*;
use crate::reco::data::Split;
use std::collections::HashMap;

/// The first invoice lines of the real demo shop, with hashed title words as text features (the embedding
/// model is not needed for a unit test; the end-to-end tests use the real one).
pub(crate) fn real_slice(lines: usize) -> Dataset {
    real_slice_where(lines, |_| true)
}

/// [`real_slice`] keeping only the events whose product `keep` accepts (the others stay in the catalog, bought by
/// nobody).
pub(crate) fn real_slice_where(lines: usize, keep: impl Fn(&str) -> bool) -> Dataset {
    use std::io::{BufRead, Write};
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let gz = std::fs::File::open(root.join("data/online-retail/online_retail.csv.gz")).unwrap();
    let src = std::io::BufReader::new(flate2::read::GzDecoder::new(gz));
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("slice.csv");
    let mut out = std::fs::File::create(&csv).unwrap();
    for line in src.lines().take(lines + 1) {
        writeln!(out, "{}", line.unwrap()).unwrap();
    }
    drop(out);
    let batch = crate::import::online_retail::read(&csv, &mut Default::default()).unwrap();
    let mut vectors: HashMap<String, Vec<f32>> = HashMap::new();
    for p in &batch.products {
        let mut v = vec![0f32; 64];
        for w in p.title.to_lowercase().split_whitespace() {
            let h = w.bytes().fold(1469598103934665603u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211));
            v[(h % 64) as usize] += 1.0;
        }
        vectors.insert(p.id.clone(), v);
    }
    let ids: Vec<String> = batch.products.iter().map(|p| p.id.clone()).collect();
    let events: Vec<_> = batch
        .events
        .into_iter()
        .enumerate()
        .filter(|(_, (e, _))| keep(&e.product))
        .map(|(i, (e, _))| (e, i as u64))
        .collect();
    Dataset::build(&ids, &events, &vectors)
}

fn quick() -> Hyper {
    Hyper { epochs: 8, dim: 32, patience: 2, threads: 2, ..Hyper::default() }
}

#[test]
fn a_model_trained_on_a_real_slice_ranks_held_out_products_far_above_chance() {
    let data = real_slice(40_000);
    let split = Split::leave_last_out(&data, 0.0, 200, 3);
    let (model, report) = Model::train(&data, &split.train, &split.valid, &quick(), |_, _, _| {}).unwrap();
    let m = model.evaluate(&data, &split.train, &split.test, 2);
    let chance = 10.0 / data.items.len() as f64;
    assert!(m.cases > 300, "{} test cases", m.cases);
    assert!(m.recall > 5.0 * chance, "Recall@10 {:.4} vs chance {chance:.4} ({report:?})", m.recall);
}

#[test]
fn products_nobody_bought_are_scored_from_their_text_not_as_one_block() {
    let data = real_slice(20_000);
    let split = Split::leave_last_out(&data, 0.1, 100, 5);
    let (model, _) = Model::train(&data, &split.train, &split.valid, &quick(), |_, _, _| {}).unwrap();
    assert!(split.cold.iter().all(|&i| !model.trained(i)));
    let p = model.user_vector(Some(&data.users[0]), &split.train.histories[0], None);
    let scores = model.score_all(&p);
    let cold: Vec<f32> = split.cold.iter().map(|&i| scores[i as usize]).collect();
    let (lo, hi) = cold.iter().fold((f32::MAX, f32::MIN), |(l, h), s| (l.min(*s), h.max(*s)));
    // the id part is absent, so any spread among new products comes from their text through W
    assert!(hi - lo > 1e-3, "new products all score alike: {lo}..{hi}");
}

#[test]
fn a_saved_model_loads_with_the_same_scores_and_a_corrupt_one_is_refused() {
    let data = real_slice(5_000);
    let split = Split::leave_last_out(&data, 0.0, 20, 3);
    let h = Hyper { epochs: 2, ..quick() };
    let (mut model, _) = Model::train(&data, &split.train, &split.valid, &h, |_, _, _| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.bin");
    model.save(&path, 7).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.version(), 7);
    let p = model.user_vector(Some(&data.users[0]), &data.sequences[0], None);
    assert_eq!(
        model.score_all(&p),
        loaded.score_all(&loaded.user_vector(Some(&data.users[0]), &data.sequences[0], None))
    );
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(Model::load(&path), Err(ModelError::Format(_))));
    std::fs::write(&path, b"not a model").unwrap();
    assert!(Model::load(&path).is_err());
}

#[test]
fn on_a_real_slice_the_blend_chosen_on_validation_uses_the_order_and_beats_recent_item_knn() {
    use crate::reco::eval::{blend_scores, choose_weights, knn_recent, seq_recent, KNN_K, SEQ_WINDOW};
    use crate::reco::knn::{ItemKnn, SequenceKnn};
    let data = real_slice(40_000);
    let split = Split::leave_last_out(&data, 0.0, 200, 3);
    let (model, _) = Model::train(&data, &split.train, &split.valid, &quick(), |_, _, _| {}).unwrap();
    let w = choose_weights(&data, &split.train, &split.valid, &model, 2);
    assert!(w.seq > 0.0, "the order shoppers bought in carries weight: {w:?}");
    let n = data.items.len();
    let knn = ItemKnn::build(n, &split.train.histories, KNN_K);
    let seq = SequenceKnn::build(n, &split.train.histories, SEQ_WINDOW, KNN_K);
    let targets = split.targets();
    let known = |u: u32| data.sequences[u as usize][..split.test_from[u as usize]].to_vec();
    let h = |u: u32| &split.train.histories[u as usize];
    let decay = model.header_hyper().decay;
    let knn_only = evaluate_sets(&targets, known, |u| knn_recent(&knn, n, h(u), decay), 2);
    let served = evaluate_sets(
        &targets,
        known,
        |u| {
            let m = model.score_all(&model.user_vector(Some(&data.users[u as usize]), h(u), None));
            blend_scores(&m, &knn_recent(&knn, n, h(u), decay), &seq_recent(&seq, n, h(u), w.seq_decay), w)
        },
        2,
    );
    assert!(served.ndcg > 1.2 * knn_only.ndcg, "blend {served:?} vs recent item-kNN {knn_only:?} ({w:?})");
}
