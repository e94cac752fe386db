use super::results::{summarise, UnitOutcome};
use super::*;

fn variant(name: &str, weight: f64) -> Variant {
    Variant {
        name: name.into(),
        weight,
        holdout: false,
        ranking: None,
        prompts: None,
        chat_model: None,
        blend: None,
        model: None,
        value: None,
    }
}

fn new(name: &str, surface: Surface, variants: Vec<Variant>) -> NewExperiment {
    NewExperiment {
        name: name.into(),
        description: String::new(),
        surface,
        unit: Unit::Shopper,
        variants,
        planned_units: 1000,
        window_days: 14,
    }
}

fn store() -> (tempfile::TempDir, Experiments) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, Experiments::open(store).unwrap())
}

#[test]
fn assignment_is_deterministic_and_follows_the_weights() {
    let (_d, x) = store();
    let e = x.create(new("split", Surface::Storefront, vec![variant("a", 1.0), variant("b", 3.0)]), 1).unwrap();
    let mut b = 0;
    for i in 0..20_000 {
        let unit = format!("visitor:{i:016}");
        let v = e.assign(&unit).name.clone();
        assert_eq!(e.assign(&unit).name, v, "the same unit gets the same variant");
        b += usize::from(v == "b");
    }
    let share = b as f64 / 20_000.0;
    assert!((share - 0.75).abs() < 0.015, "b's share {share} against its weight 0.75");
    // another experiment (another salt) splits the same units independently
    let f = x.create(new("other", Surface::Storefront, vec![variant("a", 1.0), variant("b", 3.0)]), 1).unwrap();
    let same = (0..2000).filter(|i| e.assign(&format!("u{i}")).name == f.assign(&format!("u{i}")).name).count();
    assert!((1050..1450).contains(&same), "independent splits agree about 62.5% of the time: {same}");
}

#[test]
fn bad_experiments_are_refused_with_the_reason() {
    let (_d, x) = store();
    let err = |n: NewExperiment| x.create(n, 1).unwrap_err().to_string();
    assert!(err(new("one", Surface::Chat, vec![variant("a", 1.0)])).contains("2 to 6"));
    assert!(err(new("bad name!", Surface::Chat, vec![variant("a", 1.0), variant("b", 1.0)])).contains("name"));
    assert!(err(new("w", Surface::Chat, vec![variant("a", 1.0), variant("b", -1.0)])).contains("weight"));
    assert!(err(new("d", Surface::Chat, vec![variant("a", 1.0), variant("a", 1.0)])).contains("twice"));
    let mut v = variant("b", 1.0);
    v.value = Some("cv-1".into());
    assert!(err(new("v", Surface::Chat, vec![variant("a", 1.0), v])).contains("ranking"));
    let mut h = variant("b", 1.0);
    h.holdout = true;
    assert!(err(new("h", Surface::Storefront, vec![variant("a", 1.0), h.clone()])).contains("holdout"));
    let mut both = new("s", Surface::Recommend, vec![variant("a", 1.0), h]);
    both.unit = Unit::Session;
    assert!(err(both).contains("session"));
    // one running experiment per surface, names never reused
    x.create(new("r1", Surface::Recommend, vec![variant("a", 1.0), variant("b", 1.0)]), 1).unwrap();
    assert!(err(new("r2", Surface::Recommend, vec![variant("a", 1.0), variant("b", 1.0)])).contains("running"));
    x.stop("r1", 2).unwrap();
    assert!(err(new("r1", Surface::Recommend, vec![variant("a", 1.0), variant("b", 1.0)])).contains("exists"));
    x.create(new("r2", Surface::Recommend, vec![variant("a", 1.0), variant("b", 1.0)]), 3).unwrap();
}

#[test]
fn an_exposure_is_recorded_once_and_stopping_freezes_assignment() {
    let (_d, x) = store();
    x.create(new("chat-rank", Surface::Chat, vec![variant("control", 1.0), variant("more", 1.0)]), 1).unwrap();
    let e = x.running_on(Surface::Chat).unwrap();
    let t = x.treatment(&e, "17850").unwrap();
    let first = x.expose(&t, "17850", "17850", 10).unwrap();
    assert_eq!(first, t.variant.name);
    assert_eq!(x.expose(&t, "17850", "17850", 20).unwrap(), first);
    let xs = x.exposures("chat-rank").unwrap();
    assert_eq!(xs.len(), 1, "{xs:?}");
    assert_eq!(xs[0].at, crate::prompts::datetime_iso(10), "the first exposure stands");
    let stopped = x.stop("chat-rank", 30).unwrap();
    assert_eq!(stopped.stopped, Some(30));
    assert!(x.running_on(Surface::Chat).is_none(), "a stopped experiment acts nowhere");
    assert!(x.treatment(&Arc::new(stopped), "12346").is_none());
    // reopening reads the same experiments
    let again = Experiments::open(x.store().clone()).unwrap();
    assert_eq!(again.get("chat-rank").unwrap().stopped, Some(30));
    assert!(matches!(again.get("nope"), Err(ExperimentError::NotFound(_))));
}

#[test]
fn the_read_out_counts_per_variant_and_guards_small_and_skewed_samples() {
    let (_d, x) = store();
    let mut n = new("read", Surface::Storefront, vec![variant("a", 1.0), variant("b", 1.0)]);
    n.planned_units = 200;
    let e = x.create(n, 1).unwrap();
    let buy = UnitOutcome { clicked: true, carted: true, purchased: true, revenue: 20.0 };
    let none = UnitOutcome::default();
    // a: 10 of 150 bought; b: 30 of 150 bought
    let mut units: Vec<(&str, UnitOutcome)> = vec![];
    units.extend((0..150).map(|i| ("a", if i < 10 { buy } else { none })));
    units.extend((0..150).map(|i| ("b", if i < 30 { buy } else { none })));
    let r = summarise(&e, &units);
    assert_eq!((r.variants[0].units, r.variants[0].converted), (150, 10));
    assert_eq!((r.variants[1].units, r.variants[1].converted), (150, 30));
    assert!((r.variants[1].revenue_per_unit - 4.0).abs() < 1e-9);
    let c = r.variants[1].vs_control.as_ref().unwrap();
    assert!((c.conversion.estimate - 20.0 / 150.0).abs() < 1e-9);
    assert!(c.conversion.excludes_zero(), "{c:?}");
    assert!(r.enough_units && !r.horizon_reached && r.reading.starts_with("Interim"), "{}", r.reading);
    assert!(r.srm_warning.is_none());
    // too few: 50 in each variant
    let few: Vec<_> = units[..50].iter().chain(&units[150..200]).copied().collect();
    let r = summarise(&e, &few);
    assert!(!r.enough_units && r.reading.starts_with("Too few"));
    // skewed: 150 against 260 of a 50/50 split
    let mut skew = units.clone();
    skew.extend((0..110).map(|_| ("b", none)));
    let r = summarise(&e, &skew);
    assert!(r.srm_warning.as_deref().unwrap_or_default().contains("mismatch"), "{:?}", r.srm_p);
}

#[test]
fn outcomes_count_only_inside_the_window() {
    use crate::store::{Event, EventKind};
    let mut p = Event::new("u", "A", EventKind::Purchase, "2026-11-02T00:00:00");
    p.price = Some(2.5);
    p.quantity = 4;
    let late = Event::new("u", "B", EventKind::Purchase, "2026-12-30T00:00:00");
    let early = Event::new("u", "C", EventKind::Click, "2026-10-01T00:00:00");
    let o = results::outcome(&[early, p, late], "2026-11-01T00:00:00", "2026-11-15T00:00:00", &|_| Some(100.0));
    assert_eq!(o, UnitOutcome { clicked: false, carted: false, purchased: true, revenue: 10.0 });
}
