use super::*;

fn purchase(product: &str, day: &str, q: i64) -> Event {
    Event { quantity: q, ..Event::new("u1", product, EventKind::Purchase, &format!("{day}T10:00:00")) }
}

#[test]
fn weeks_start_on_monday_and_the_unfinished_last_week_is_left_out() {
    // 2011-11-28 is a Monday; the last sale is on Wednesday 2011-12-07, so that week is not whole
    let events = vec![
        purchase("a", "2011-11-28", 2),
        purchase("a", "2011-12-04", 3), // Sunday: same week
        purchase("b", "2011-12-05", 1),
        purchase("a", "2011-12-07", 9),
        Event::new("u1", "a", EventKind::View, "2011-12-01T10:00:00"),
    ];
    let d = Demand::from_events(&events, &|p| if p == "a" { "toys".into() } else { String::new() }, Freq::Weekly);
    assert_eq!(d.freq.label(d.start), "2011-11-28");
    assert_eq!(d.len(), 1, "only the whole week");
    assert_eq!(d.products["a"], vec![5.0]);
    assert!(!d.products.contains_key("b"), "b sold only in the unfinished week");
    assert_eq!(d.categories["toys"], vec![5.0]);
    assert_eq!(d.total, vec![5.0]);
    let daily = Demand::from_events(&events, &|_| String::new(), Freq::Daily);
    assert_eq!(daily.len(), 10, "2011-11-28 to 2011-12-07: the last sale's day counts whole");
    assert_eq!(daily.products["a"][9], 9.0);
}

#[test]
fn each_series_gets_the_method_that_fit_its_own_held_out_periods_and_intervals_contain_the_forecast() {
    // a smooth series, an intermittent one, and one that stopped selling
    let smooth: Vec<f64> = (0..40).map(|i| 20.0 + (i % 3) as f64).collect();
    let lumpy: Vec<f64> = (0..40).map(|i| if i % 5 == 0 { 10.0 } else { 0.0 }).collect();
    let mut stopped = vec![4.0; 25];
    stopped.extend([0.0; 15]);
    let total: Vec<f64> = (0..40).map(|i| smooth[i] + lumpy[i] + stopped[i]).collect();
    let out = forecast_all(&[&smooth, &lumpy, &stopped], Some(&total), 8, 52, Choice::PerSeries);
    assert_eq!(out.len(), 3);
    for f in &out {
        assert_eq!(f.mean.len(), 8);
        for i in 0..8 {
            assert!(f.lo95[i] <= f.lo80[i] && f.lo80[i] <= f.hi80[i] && f.hi80[i] <= f.hi95[i], "{f:?}");
            assert!(f.lo95[i] >= 0.0);
        }
    }
    assert!((out[0].mean[0] - 21.0).abs() < 2.0, "{:?}", out[0]);
    assert!(out[2].mean[0] < 1.0, "an item that stopped selling is not forecast to sell: {:?}", out[2]);
    // restricted to one method, every series uses it
    let only = forecast_all(&[&smooth, &lumpy], None, 4, 52, Choice::Only(Method::CrostonSba));
    assert!(only.iter().all(|f| f.methods == [Method::CrostonSba]));
    // the served rule: the same three methods for every series, the mean of their forecasts
    let served = forecast_all(&[&smooth, &lumpy, &stopped], Some(&total), 8, 52, SERVED);
    assert!(served.iter().all(|f| f.methods.len() == 3 && f.methods == served[0].methods), "{served:?}");
}

#[test]
fn a_report_labels_history_and_forecast_periods_in_order() {
    let events: Vec<Event> = (0..10)
        .map(|w| {
            let day = crate::prompts::datetime_iso(((Freq::Weekly.first_day(2188 + w)) * 86_400) as u64);
            purchase("a", &day[..10], 3 + w)
        })
        .chain(std::iter::once(purchase("a", "2012-01-08", 1)))
        .collect();
    let d = Demand::from_events(&events, &|_| String::new(), Freq::Weekly);
    let all = forecast_level(&d, "product", 4);
    let r = report(&d, &Level::Product("a".into()), &all["a"], 6).unwrap();
    assert_eq!(r.history.len(), 6);
    assert_eq!(r.forecast.len(), 4);
    let labels: Vec<&String> = r.history.iter().map(|h| &h.0).chain(r.forecast.iter().map(|f| &f.period)).collect();
    assert!(labels.windows(2).all(|w| w[0] < w[1]), "{labels:?}");
    assert!(report(&d, &Level::Product("nope".into()), &all["a"], 6).is_none());
    let shop = forecast_level(&d, "shop", 4);
    assert!(report(&d, &Level::Shop, &shop[""], 6).is_some());
}

#[test]
fn products_whose_forecast_passes_their_stock_are_listed_likely_first() {
    let weeks: Vec<f64> = vec![10.0; 30];
    let mut products = BTreeMap::new();
    for id in ["steady", "spare", "unknown"] {
        products.insert(id.to_string(), weeks.clone());
    }
    let d = Demand { freq: Freq::Weekly, start: 2188, products, categories: BTreeMap::new(), total: vec![30.0; 30] };
    let c = serve::Computed { series: forecast_level(&d, "product", 4), demand: d };
    let product = |id: &str, stock: Option<i64>| crate::catalog::Product {
        id: id.into(),
        title: id.to_uppercase(),
        stock,
        ..Default::default()
    };
    let catalog = crate::catalog::Catalog::new(vec![
        product("steady", Some(25)),  // 10 a week: gone in the third week
        product("spare", Some(1000)), // plenty
        product("unknown", None),     // stock not known: never listed
    ]);
    let list = serve::run_out(&c, &catalog, Freq::Weekly);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].id, "steady");
    assert_eq!(list[0].risk, "likely");
    assert_eq!(list[0].runs_out.as_deref(), Some(Freq::Weekly.label(2188 + 30 + 2).as_str()));
    assert!((list[0].demand - 40.0).abs() < 1.0, "{list:?}");
}

#[test]
fn forecast_requests_are_checked() {
    use serve::Ask;
    assert!(Ask::parse("shop", "", "", None).is_ok());
    assert_eq!(Ask::parse("product", "85123A", "daily", Some(2)).unwrap().weeks, 2);
    for (level, key, freq, weeks) in [
        ("product", "", "weekly", None),
        ("brand", "x", "weekly", None),
        ("shop", "", "hourly", None),
        ("shop", "", "", Some(9)),
    ] {
        assert!(Ask::parse(level, key, freq, weeks).is_err(), "{level} {key:?} {freq} {weeks:?}");
    }
}
