use super::*;
use crate::store::{Event, EventKind};
use proptest::prelude::*;

const CATS: [&str; 3] = ["Home > Candles", "Toys", "Kitchen"];

fn catalog(specs: &[(u8, u8, i8)]) -> (Catalog, Vec<String>) {
    let products: Vec<Product> = specs
        .iter()
        .enumerate()
        .map(|(i, &(price, cat, stock))| Product {
            category: CATS[cat as usize % 3].into(),
            price: (price > 0).then_some(f64::from(price) / 4.0),
            stock: (stock != 0).then_some(i64::from(stock)),
            ..Product::titled(&format!("p{i}"), &format!("Product {i}"))
        })
        .collect();
    let ids = products.iter().map(|p| p.id.clone()).collect();
    (Catalog::new(products), ids)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn the_shops_rules_are_never_broken(
        specs in proptest::collection::vec((0u8..80, 0u8..3, -2i8..4), 5..40),
        baskets in proptest::collection::vec(proptest::collection::vec(0usize..40, 1..6), 1..30),
        history in proptest::collection::vec(0usize..40, 0..8),
        max_price in proptest::option::of(1u8..20),
        min_price in proptest::option::of(0u8..10),
        category in proptest::option::of(0usize..3),
        exclude in proptest::option::of(0usize..3),
        include_bought in any::<bool>(),
        new_slots in 0usize..3,
    ) {
        let (catalog, ids) = catalog(&specs);
        let n = ids.len();
        let mut events = vec![];
        for (b, basket) in baskets.iter().enumerate() {
            for (k, &i) in basket.iter().enumerate() {
                let ts = format!("2011-01-{:02}", 1 + b % 28);
                let e = Event { order: Some(format!("o{b}")), ..Event::new(&format!("u{}", b % 7), &ids[i % n], EventKind::Purchase, &ts) };
                events.push((e, k as u64));
            }
        }
        let data = Dataset::build(&ids, &events, &HashMap::new());
        let served = Served::build(data, None);
        let hist: Vec<u32> = history.iter().map(|&i| served.index(&ids[i % n]).unwrap()).collect();
        let req = Request {
            user: Some("u1".into()),
            n: 10,
            category: category.map(|c| CATS[c].split(" > ").next().unwrap().to_string()),
            exclude_categories: exclude.map(|c| vec![CATS[c].to_string()]).unwrap_or_default(),
            min_price: min_price.map(|p| f64::from(p) / 2.0),
            max_price: max_price.map(|p| f64::from(p) / 2.0),
            boosts: vec![("Toys".into(), 0.5)],
            include_bought,
            context: None,
            new_slots,
            weights: None,
        };
        let picks = served.recommend(&catalog, &req, &hist);
        let mut seen = HashSet::new();
        for r in &picks {
            let p = catalog.get(&r.id).unwrap();
            let i = served.index(&r.id).unwrap();
            prop_assert!(seen.insert(r.id.clone()), "{} twice", r.id);
            prop_assert!(p.stock.is_none_or(|s| s > 0), "out of stock {:?}", p);
            if let Some(m) = req.max_price { prop_assert!(p.price.is_some_and(|x| x <= m + 1e-9)); }
            if let Some(m) = req.min_price { prop_assert!(p.price.is_some_and(|x| x + 1e-9 >= m)); }
            if let Some(c) = &req.category { prop_assert!(p.category.starts_with(c.as_str())); }
            for c in &req.exclude_categories { prop_assert!(&p.category != c); }
            if !include_bought { prop_assert!(!hist.contains(&i) || served.tables.consumable[i as usize]); }
        }
        prop_assert!(picks.len() <= 10);
    }
}

#[test]
fn a_row_of_picks_is_diverse_and_each_says_which_purchase_it_goes_with() {
    // two near-identical products and a different one, all bought with "a", each as often right after it
    let (catalog, ids) = catalog(&[(8, 0, 0), (8, 0, 0), (8, 0, 0), (8, 1, 0)]);
    let mut events = vec![];
    for u in 0..6 {
        for (k, i) in [0usize, 1 + u % 3, 1 + (u + 1) % 3, 1 + (u + 2) % 3].iter().enumerate() {
            events.push((
                Event {
                    order: Some(format!("o{u}")),
                    ..Event::new(&format!("u{u}"), &ids[*i], EventKind::Purchase, "2011-01-01")
                },
                k as u64,
            ));
        }
    }
    let mut vectors = HashMap::new();
    vectors.insert(ids[1].clone(), vec![1.0, 0.0]);
    vectors.insert(ids[2].clone(), vec![1.0, 0.0]);
    vectors.insert(ids[3].clone(), vec![0.0, 1.0]);
    vectors.insert(ids[0].clone(), vec![0.7, 0.7]);
    let served = Served::build(Dataset::build(&ids, &events, &vectors), None);
    let a = served.index(&ids[0]).unwrap();
    let picks = served.recommend(&catalog, &Request { n: 2, ..Default::default() }, &[a]);
    let got: HashSet<&str> = picks.iter().map(|r| r.id.as_str()).collect();
    assert!(got.contains("p3"), "the different product makes the row: {got:?}");
    assert_eq!(picks[0].contributions.because.as_ref().map(|b| b.id.as_str()), Some("p0"));
}

#[test]
fn what_shoppers_bought_next_leads_and_says_which_purchase_it_follows() {
    // the same six shoppers bought 1 and 2 (equal item-kNN from 0), but 1 always right after 0 and 2 at the end
    let (catalog, ids) = catalog(&[(8, 0, 0), (8, 1, 0), (8, 2, 0), (8, 0, 0), (8, 1, 0)]);
    let mut events = vec![];
    for u in 0..6 {
        for (k, i) in [0usize, 1, 3, 4, 2].iter().enumerate() {
            events.push((Event::new(&format!("u{u}"), &ids[*i], EventKind::Purchase, "2011-01-01"), k as u64));
        }
    }
    let served = Served::build(Dataset::build(&ids, &events, &HashMap::new()), None);
    let last = served.index(&ids[0]).unwrap();
    let picks = served.recommend(&catalog, &Request { n: 4, ..Default::default() }, &[last]);
    assert_eq!(picks[0].id, "p1", "{picks:?}");
    let of = |id: &str| picks.iter().find(|r| r.id == id).map(|r| r.contributions.clone()).unwrap();
    let (next, later) = (of("p1"), of("p2"));
    assert!((next.history - later.history).abs() < 1e-6, "same shoppers: the same item-kNN part");
    assert!(next.sequence > later.sequence, "{} vs {}", next.sequence, later.sequence);
    assert_eq!(next.because.map(|b| b.id), Some("p0".to_string()));
}

#[test]
fn saved_tables_serve_the_same_picks_until_the_store_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (catalog, ids) = catalog(&[(4, 0, 3), (8, 0, 3), (12, 1, 3), (16, 2, 3), (20, 1, 3)]);
    store.put_products(catalog.snapshot().iter().map(|p| p.as_ref())).unwrap();
    let mut events = vec![];
    for u in 0..6 {
        for (k, p) in [0, 1 + u % 3, 4].into_iter().enumerate() {
            let mut e = Event::new(&format!("u{u}"), &ids[p], EventKind::Purchase, &format!("2011-01-0{}", 1 + u));
            e.order = Some(format!("o{u}"));
            events.push((e, format!("row:{u}:{k}")));
        }
    }
    store.put_events(events.iter().map(|(e, k)| (e, k.as_str()))).unwrap();
    let picks = |r: &Recommender| {
        let s = r.current();
        let h: Vec<u32> = [&ids[0]].iter().filter_map(|id| s.index(id)).collect();
        let req = Request { n: 3, user: Some("u0".into()), include_bought: true, ..Default::default() };
        s.recommend(&catalog, &req, &h).into_iter().map(|r| (r.id, r.score)).collect::<Vec<_>>()
    };
    let built = Recommender::open(dir.path(), &store).unwrap();
    assert!(crate::derived::path(dir.path(), "recommender").is_file(), "built from the events and saved");
    let loaded = Recommender::open(dir.path(), &store).unwrap();
    assert_eq!(picks(&built), picks(&loaded), "the saved tables serve the same picks");
    assert!(!loaded.reload_if_changed(&store).unwrap(), "nothing pending after a clean load");

    // a product added while the server was stopped: the copy is stale and the tables are built again
    let newer = Product { category: "Toys".into(), price: Some(3.0), ..Product::titled("p9", "Product 9") };
    store.put_products([&newer]).unwrap();
    let reopened = Recommender::open(dir.path(), &store).unwrap();
    assert!(reopened.current().index("p9").is_some(), "the new product is in the rebuilt tables");

    // a change while serving that was not folded in yet: saved as pending, folded in at the next start's first check
    store.put_events([(&Event::new("u7", &ids[2], EventKind::View, "2011-02-01"), "row:7")]).unwrap();
    reopened.behaviour_changed();
    reopened.save(&store).unwrap();
    let next = Recommender::open(dir.path(), &store).unwrap();
    assert!(!next.current().tables.data.users.contains(&"u7".to_string()), "served as the stopped server served");
    assert!(next.reload_if_changed(&store).unwrap(), "pending changes are folded in at the first check");
    assert!(next.current().tables.data.users.contains(&"u7".to_string()));
}

#[test]
fn training_for_serving_installs_the_sequential_model_beside_the_model_and_the_blend_uses_it() {
    let data = crate::reco::model::tests::real_slice(20_000);
    let dir = tempfile::tempdir().unwrap();
    let hyper = Hyper { epochs: 2, dim: 16, threads: 2, ..Default::default() };
    train_and_install(dir.path(), &data, &hyper, SequentialTraining::Warm).unwrap();
    let (model, sequential, _) = installed_model(&model_dir(dir.path()));
    let (model, sequential) = (model.unwrap(), sequential.expect("a sequential model beside the model"));
    assert_eq!(sequential.version(), model.version());
    assert!(sequential_file(&model_dir(dir.path()), model.version()).is_file());
    // it knows where each shopper's history ended, for the next warm start
    let lengths: Vec<usize> = data.sequences.iter().map(Vec::len).collect();
    assert_eq!(sequential.new_from(&data), lengths);

    let w = Weights { sequential: 1.0, ..model.weights() };
    let served = Served::build(data.clone(), Some(model)).with_sequential(Some(sequential.clone()));
    let u = (0..data.users.len()).find(|&u| data.sequences[u].len() > 5).unwrap();
    let history = &data.sequences[u][..data.sequences[u].len() - 1];
    let with = served.blend_with(None, history, None, Some(w));
    let without = served.blend_with(None, history, None, Some(Weights { sequential: 0.0, ..w }));
    assert_eq!(with.sequential.len(), data.items.len(), "its part over every product");
    assert_eq!(
        without.sequential, with.sequential,
        "at weight 0 it is still computed: it ranks the new-product places"
    );
    let moved = with.score.iter().zip(&without.score).zip(&with.sequential).all(|((a, b), s)| (a - b - s).abs() < 1e-4);
    assert!(moved, "the blend adds its standardised score at its weight");
    // what the shopper said is its last step: the part moves, the blend with it
    let said = data.text_of(data.sequences[u][0]).to_vec();
    let talked = served.blend_with(None, history, Some(&said), Some(w));
    assert_ne!(talked.sequential, with.sequential, "what was said changes nothing");
    // its score reads the history: the next product scores better than the average product
    let next = data.sequences[u][data.sequences[u].len() - 1] as usize;
    assert!(with.sequential[next] > 0.0, "the held-out next product: {}", with.sequential[next]);

    // nothing new since: the warm start keeps the served sequential model as it is
    train_and_install(dir.path(), &data, &hyper, SequentialTraining::Warm).unwrap();
    let (_, again, _) = installed_model(&model_dir(dir.path()));
    let again = again.unwrap();
    assert_eq!(again.report().seconds, sequential.report().seconds, "the same training run");
    assert_eq!(again.vector(0), sequential.vector(0));
    // the previous version stays for a roll-back, older ones go
    train_and_install(dir.path(), &data, &hyper, SequentialTraining::Off).unwrap();
    let files: Vec<String> = std::fs::read_dir(model_dir(dir.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|f| f.ends_with(".bin"))
        .collect();
    assert_eq!(files.iter().filter(|f| f.starts_with("model-")).count(), 2, "{files:?}");
    assert_eq!(files.iter().filter(|f| f.starts_with("sequential-")).count(), 1, "{files:?}");
    let (_, none, _) = installed_model(&model_dir(dir.path()));
    assert!(none.is_none(), "trained with it off: the blend serves without it");
}

#[test]
fn the_new_product_places_go_to_the_best_new_products_by_both_models_text_scores() {
    use crate::reco::neural::{SeqHyper, Start};
    // a fifth of the products bought by nobody (their events left out), still in the catalog
    let old = |id: &str| id.to_lowercase().bytes().map(u32::from).sum::<u32>() % 5 != 0;
    let data = crate::reco::model::tests::real_slice_where(20_000, old);
    let train = crate::reco::data::Train::all(&data);
    let hyper = Hyper { epochs: 2, dim: 16, threads: 2, ..Default::default() };
    let (model, _) = Model::train(&data, &train, &[], &hyper, |_, _, _| {}).unwrap();
    let sh = SeqHyper { dim: 32, epochs: 2, negatives: 256, ..SeqHyper::default() };
    let (neural, _) = NeuralModel::train(&data, &train, &[], &sh, Start::Fresh, 2, |_| {}).unwrap();
    let served = Served::build(data.clone(), Some(model)).with_sequential(Some(neural));
    let catalog = Catalog::new(data.items.iter().map(|id| Product::titled(id, id)).collect::<Vec<_>>());
    let req = Request { n: 10, new_slots: 2, ..Request::default() };
    let new: Vec<u32> = (0..data.items.len() as u32).filter(|&i| served.tables.popularity[i as usize] == 0).collect();
    assert!(data.items.iter().enumerate().all(|(i, id)| old(id) || new.contains(&(i as u32))));
    assert!(new.len() > 100, "{}", new.len());
    let mut checked = 0;
    for u in (0..data.users.len()).filter(|&u| data.sequences[u].len() >= 4).take(20) {
        let history = &data.sequences[u];
        let picks = served.recommend(&catalog, &req, history);
        assert_eq!(picks.len(), 10);
        let parts = served.blend(None, history, None);
        assert!(!parts.sequential.is_empty());
        let both = new_product_scores(&parts.model, Some(&parts.sequential));
        let head: Vec<&str> = picks[..8].iter().map(|p| p.id.as_str()).collect();
        let mut best: Vec<u32> =
            new.iter().copied().filter(|&i| !head.contains(&data.items[i as usize].as_str())).collect();
        best.sort_by(|&a, &b| both[b as usize].total_cmp(&both[a as usize]).then(a.cmp(&b)));
        let want: Vec<&str> = best[..2].iter().map(|&i| data.items[i as usize].as_str()).collect();
        let got: Vec<&str> = picks[8..].iter().map(|p| p.id.as_str()).collect();
        assert_eq!(got, want, "shopper {u}");
        assert!(picks[8..].iter().all(|p| p.contributions.new_product));
        checked += 1;
    }
    assert!(checked >= 10);
}
