//! `aisle bench anomaly`: the served anomaly rules on the demo shop's real purchases (Online Retail) with
//! injected, labelled anomalies (a seeded generator, described in BENCHMARKS.md) and the real customers who cancel
//! much (the data's cancelled invoices), precision and recall per kind beside scikit-learn's IsolationForest on the
//! same features (`--reference benches/anomaly_reference.py`), run on the same data in the same run.
use crate::anomaly::shoppers::{self, Features};
use crate::anomaly::{self, Grain, Metric};
use crate::rng::Rng;
use crate::store::{Event, EventKind, Order, OrderStatus, StatusChange};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

/// Injected shoppers per kind, and injected days (half spikes, half drops).
const PER_KIND: usize = 25;
const DAYS: usize = 12;
const KINDS: [&str; 5] = ["bot_rate", "flood", "card_testing", "no_views", "cancellations"];

fn ts(secs: i64) -> String {
    crate::prompts::datetime_iso(secs.max(0) as u64)[..19].to_string()
}

/// The real purchases (each given a view five minutes before, as a shop that sends views would) and orders (every
/// invoice of a known customer, its cancelled ones with the cancelled status).
fn real(path: &Path) -> anyhow::Result<(Vec<Event>, Vec<Order>)> {
    let mut report = crate::import::ImportReport::default();
    let batch = crate::import::online_retail::read(path, &mut report)?;
    let mut events = Vec::with_capacity(batch.events.len() * 2);
    let mut orders: BTreeMap<String, Order> = BTreeMap::new();
    let mut line_of_order: HashMap<String, i64> = HashMap::new();
    for (e, _) in batch.events {
        // a person views each line's product in turn, 40 seconds apart, the last five minutes before buying
        let j = line_of_order.entry(e.order.clone().unwrap_or_default()).or_insert(0);
        *j += 1;
        if let Some(t) = anomaly::seconds(&e.timestamp) {
            events.push(Event::new(&e.user, &e.product, EventKind::View, &ts(t - 300 - 40 * *j)));
        }
        if let Some(o) = &e.order {
            orders.entry(o.clone()).or_insert_with(|| order(o, &e.user, &e.timestamp, false));
        }
        events.push(e);
    }
    // the cancelled invoices the import skips
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(crate::import::open(path)?);
    for rec in csv.records().flatten() {
        let (invoice, customer) = (rec.get(0).unwrap_or(""), rec.get(6).unwrap_or("").trim());
        if invoice.starts_with('C') && !customer.is_empty() {
            let customer = customer.trim_end_matches(".0");
            orders
                .entry(invoice.to_string())
                .or_insert_with(|| order(invoice, customer, rec.get(4).unwrap_or(""), true));
        }
    }
    Ok((events, orders.into_values().collect()))
}

fn order(id: &str, customer: &str, at: &str, cancelled: bool) -> Order {
    let status = if cancelled {
        vec![StatusChange {
            status: OrderStatus::Cancelled,
            at: at.to_string(),
            carrier: None,
            tracking_number: None,
            tracking_url: None,
        }]
    } else {
        vec![]
    };
    Order { id: id.into(), customer: customer.into(), timestamp: at.into(), lines: vec![], status, requests: vec![] }
}

/// Injected shoppers of each kind at random times of the data, with their labels.
fn inject(events: &mut Vec<Event>, rng: &mut Rng, products: &[(String, f64)]) -> HashMap<String, &'static str> {
    let times: Vec<i64> = events.iter().filter_map(|e| anomaly::seconds(&e.timestamp)).collect();
    let mut labels = HashMap::new();
    let pick = |rng: &mut Rng| products[rng.below(products.len())].clone();
    for k in 0..PER_KIND {
        let start = times[rng.below(times.len())];
        // a bot: 60-200 views within 30-90 seconds
        let user = format!("inj-bot-{k}");
        let (n, span) = (60 + rng.below(141), 30 + rng.below(61) as i64);
        for i in 0..n {
            events.push(Event::new(&user, &pick(rng).0, EventKind::View, &ts(start + i as i64 * span / n as i64)));
        }
        labels.insert(user, "bot_rate");
        // a flood: 600-900 events spread over 55 minutes (slower than a bot each minute)
        let user = format!("inj-flood-{k}");
        let n = 600 + rng.below(301);
        for i in 0..n {
            let kind = [EventKind::View, EventKind::Click, EventKind::Search][rng.below(3)];
            events.push(Event::new(&user, &pick(rng).0, kind, &ts(start + i as i64 * 3300 / n as i64)));
        }
        labels.insert(user, "flood");
        // a card tester: 4-8 orders of £0.50-£4 within 10-50 minutes, each after a view
        let user = format!("inj-card-{k}");
        let (n, span) = (4 + rng.below(5), 600 + rng.below(2401) as i64);
        for i in 0..n {
            let t = start + i as i64 * span / n as i64;
            let p = pick(rng).0;
            events.push(Event::new(&user, &p, EventKind::View, &ts(t - 20)));
            let price = 0.5 + 3.5 * f64::from(rng.unit());
            events.push(Event {
                price: Some(price),
                order: Some(format!("{user}-{i}")),
                ..Event::new(&user, &p, EventKind::Purchase, &ts(t))
            });
        }
        labels.insert(user, "card_testing");
        // a buyer who never looks: 3-12 lines at their catalog price over 1-3 orders, no view
        let user = format!("inj-blind-{k}");
        let (n, orders) = (3 + rng.below(10), 1 + rng.below(3));
        for i in 0..n {
            let (p, price) = pick(rng);
            let o = i % orders;
            events.push(Event {
                price: Some(price),
                quantity: 1 + rng.below(6) as i64,
                order: Some(format!("{user}-{o}")),
                ..Event::new(&user, &p, EventKind::Purchase, &ts(start + o as i64 * 86_400))
            });
        }
        labels.insert(user, "no_views");
    }
    labels
}

/// The real customers who cancel much: at least 3 cancelled invoices, at least 30% of theirs (the rule's own
/// threshold: the label and the rule agree by construction; IsolationForest's figure is the comparison).
fn cancelling(orders: &[Order]) -> HashSet<String> {
    let mut by: HashMap<&str, (usize, usize)> = HashMap::new();
    for o in orders {
        let c = by.entry(&o.customer).or_default();
        c.1 += 1;
        if !o.status.is_empty() {
            c.0 += 1;
        }
    }
    by.into_iter().filter(|(_, (c, n))| *c >= 3 && *c as f64 >= 0.3 * *n as f64).map(|(u, _)| u.to_string()).collect()
}

/// Injected days: visitors multiplied (new one-view shoppers) or most of the day's events removed.
fn inject_days(events: &mut Vec<Event>, rng: &mut Rng) -> HashMap<String, &'static str> {
    let t = anomaly::Traffic::from_events(events, Grain::Day);
    // trading days after the first eight weeks
    let days: Vec<i64> = (56..t.len()).filter(|&i| t.events[i] > 0.0).map(|i| t.start + i as i64).collect();
    let mut chosen: Vec<i64> = vec![];
    while chosen.len() < DAYS {
        let d = days[rng.below(days.len())];
        if !chosen.iter().any(|c| (c - d).abs() < 8) {
            chosen.push(d);
        }
    }
    let mut labels = HashMap::new();
    for (i, d) in chosen.iter().enumerate() {
        let label = Grain::Day.label(*d);
        let visitors = t.visitors[(d - t.start) as usize];
        if i % 2 == 0 {
            let extra = (visitors * (0.8 + 1.2 * f64::from(rng.unit()))) as usize;
            for k in 0..extra {
                let at = d * 86_400 + 9 * 3600 + rng.below(8 * 3600) as i64;
                events.push(Event::new(&format!("inj-day-{i}-{k}"), "85123A", EventKind::View, &ts(at)));
            }
            labels.insert(label, "spike");
        } else {
            // most of the day's shoppers do not come: all their events that day go
            let keep = 0.1 + 0.3 * f64::from(rng.unit());
            let kept = |user: &str| f64::from(crate::intent::fnv(user.as_bytes()) % 1000) / 1000.0 < keep;
            events.retain(|e| !e.timestamp.starts_with(&label) || kept(&e.user));
            labels.insert(label, "drop");
        }
    }
    labels
}

pub fn anomaly(demo: &Path, reference: Option<&Path>, python: &str) -> anyhow::Result<()> {
    let (mut events, orders) = real(demo)?;
    let mut rng = Rng(2026);
    let mut products: BTreeMap<String, f64> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == EventKind::Purchase) {
        products.insert(e.product.clone(), e.price.unwrap_or(1.0));
    }
    let products: Vec<(String, f64)> = products.into_iter().collect();
    let day_labels = inject_days(&mut events, &mut rng);
    let mut labels = inject(&mut events, &mut rng, &products);
    for u in cancelling(&orders) {
        labels.insert(u, "cancellations");
    }
    println!(
        "aisle bench anomaly: {} events ({} injected shoppers, {} per kind; {} real customers who cancel much), {} orders, {} injected days",
        events.len(),
        PER_KIND * 4,
        PER_KIND,
        labels.values().filter(|k| **k == "cancellations").count(),
        orders.len(),
        day_labels.len()
    );

    // days: the served band on daily visitors
    let t = anomaly::Traffic::from_events(&events, Grain::Day);
    let points = anomaly::banded(&t, Grain::Day, Metric::Visitors);
    let judged: Vec<usize> = (0..points.len()).filter(|&i| points[i].expected.is_some()).collect();
    let ours_days: HashSet<String> =
        judged.iter().filter(|&&i| points[i].flag.is_some()).map(|&i| points[i].period.clone()).collect();
    // shoppers: the served rules
    let all = shoppers::features(&events, &orders, shoppers::small_order(&events));
    let views = shoppers::views_recorded(&all);
    let users: Vec<String> = {
        let mut u: Vec<String> = all.keys().cloned().collect();
        u.sort();
        u
    };
    let ours: HashMap<&str, Vec<&'static str>> = users
        .iter()
        .map(|u| (u.as_str(), shoppers::flags(&all[u], views).into_iter().map(|f| f.kind).collect()))
        .collect();

    let refs = match reference {
        Some(script) => {
            match run_reference(script, python, &t, &judged, day_labels.len(), &users, &all, labels.len()) {
                Ok(r) => Some(r),
                Err(e) => {
                    println!("reference not run: {e:#}");
                    None
                }
            }
        }
        None => {
            println!("reference not run (--reference benches/anomaly_reference.py, with scikit-learn)");
            None
        }
    };

    println!();
    println!("{:<16} {:>9} {:>9} {:>9}   {:>22}", "kind", "labelled", "precision", "recall", "IsolationForest recall");
    let pr = |flagged: &dyn Fn(&str) -> bool, positive: &dyn Fn(&str) -> bool, items: &[String]| -> (f64, f64) {
        let f: Vec<&String> = items.iter().filter(|u| flagged(u)).collect();
        let tp = f.iter().filter(|u| positive(u)).count() as f64;
        let pos = items.iter().filter(|u| positive(u)).count() as f64;
        (if f.is_empty() { 0.0 } else { tp / f.len() as f64 }, if pos == 0.0 { 0.0 } else { tp / pos })
    };
    for kind in KINDS {
        let positive = |u: &str| labels.get(u) == Some(&kind);
        let (p, r) = pr(&|u| ours[u].contains(&kind), &positive, &users);
        let if_recall = refs.as_ref().map(|x| {
            let pos: Vec<&String> = users.iter().filter(|u| positive(u)).collect();
            pos.iter().filter(|u| x.shoppers.contains(u.as_str())).count() as f64 / pos.len().max(1) as f64
        });
        let n = users.iter().filter(|u| positive(u)).count();
        println!(
            "{kind:<16} {n:>9} {p:>9.3} {r:>9.3}   {:>22}",
            if_recall.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
        );
    }
    let any = |u: &str| labels.contains_key(u);
    let (p, r) = pr(&|u| !ours[u].is_empty(), &any, &users);
    println!("{:<16} {:>9} {p:>9.3} {r:>9.3}", "any (shoppers)", labels.len());
    if let Some(x) = &refs {
        let (p, r) = pr(&|u| x.shoppers.contains(u), &any, &users);
        println!("{:<16} {:>9} {p:>9.3} {r:>9.3}   (IsolationForest, its top {} flagged)", "", "", labels.len());
    }
    let days: Vec<String> = judged.iter().map(|&i| points[i].period.clone()).collect();
    if std::env::var_os("AISLE_BENCH_DEBUG").is_some() {
        for p in points.iter().filter(|p| day_labels.contains_key(&p.period)) {
            println!(
                "{} {:?} {} {:?} {:?} {:?} {:?}",
                p.period, day_labels[&p.period], p.value, p.expected, p.low, p.high, p.flag
            );
        }
    }
    let injected = |d: &str| day_labels.contains_key(d);
    let (p, r) = pr(&|d| ours_days.contains(d), &injected, &days);
    println!();
    println!(
        "days (visitors)  {:>9} {p:>9.3} {r:>9.3}   served band: {} of {} judged days flagged",
        day_labels.len(),
        ours_days.len(),
        days.len()
    );
    if let Some(x) = &refs {
        let (p, r) = pr(&|d| x.days.contains(d), &injected, &days);
        println!("{:<16} {:>9} {p:>9.3} {r:>9.3}   (IsolationForest, its top {} days)", "", "", day_labels.len());
    }
    println!("(precision counts every flag not injected as false, the real holidays and closures the band finds too)");
    Ok(())
}

struct Reference {
    shoppers: HashSet<String>,
    days: HashSet<String>,
}

/// Writes the same features for the script: each judged day's counts and weekday, each shopper's features; reads
/// back the top-k of IsolationForest's anomaly scores (k the number labelled).
#[allow(clippy::too_many_arguments)]
fn run_reference(
    script: &Path,
    python: &str,
    t: &anomaly::Traffic,
    judged: &[usize],
    k_days: usize,
    users: &[String],
    all: &HashMap<String, Features>,
    k_users: usize,
) -> anyhow::Result<Reference> {
    let dir = super::TempDir::new("anomaly")?;
    let mut w = csv::Writer::from_path(dir.0.join("days.csv"))?;
    w.write_record(["id", "visitors", "events", "purchases", "buyers", "weekday"])?;
    for &i in judged {
        let day = t.start + i as i64;
        let f = |v: f64| v.to_string();
        w.write_record([
            Grain::Day.label(day),
            f(t.visitors[i]),
            f(t.events[i]),
            f(t.purchases[i]),
            f(t.buyers[i]),
            ((day + 3).rem_euclid(7)).to_string(),
        ])?;
    }
    w.flush()?;
    let mut w = csv::Writer::from_path(dir.0.join("shoppers.csv"))?;
    w.write_record([
        "id",
        "events",
        "per_minute",
        "per_hour",
        "orders",
        "small_orders_hour",
        "bought_lines",
        "blind_share",
        "cancelled",
        "cancelled_share",
    ])?;
    for u in users {
        let f = &all[u];
        let v = [
            f.events,
            f.per_minute,
            f.per_hour,
            f.orders,
            f.small_orders_hour,
            f.bought_lines,
            f.blind_share,
            f.cancelled,
            f.cancelled_share,
        ];
        let mut row = vec![u.clone()];
        row.extend(v.iter().map(|x| x.to_string()));
        w.write_record(&row)?;
    }
    w.flush()?;
    std::fs::write(dir.0.join("k.txt"), format!("{k_days} {k_users}"))?;
    let out = std::process::Command::new(python).arg(script).arg(&dir.0).output()?;
    let mut err = String::new();
    let _ = write!(err, "{}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
    anyhow::ensure!(out.status.success(), "{err}");
    let read = |name: &str| -> anyhow::Result<HashSet<String>> {
        Ok(std::fs::read_to_string(dir.0.join(name))?.lines().map(str::to_string).collect())
    };
    Ok(Reference { shoppers: read("if_shoppers.txt")?, days: read("if_days.txt")? })
}
