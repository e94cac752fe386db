//! `aisle bench forecast`: weekly demand per product on Online Retail (the purchases of known customers), the
//! last 8 weeks held out from three forecast origins (16, 12 and 8 weeks before the end, 8 weeks ahead each),
//! scored by MASE, RMSSE and 80/95% interval coverage: Aisle's per-series choice, each of its methods alone, and
//! Nixtla statsforecast's (through `--reference`, on the same exported series, scored by the same code here).
use crate::forecast::{self, measure, Demand, Freq};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

const H: usize = 8;

/// One model's forecasts: (origin, product) -> (mean, lo80, hi80, lo95, hi95) per step.
type Forecasts = HashMap<(usize, String), Vec<[f64; 5]>>;

pub fn forecast(demo: &Path, reference: Option<&Path>, python: &str) -> anyhow::Result<()> {
    let dir = super::TempDir::new("forecast")?;
    let t = Instant::now();
    crate::import::run(
        &dir.0,
        &crate::import::Sources { online_retail: Some(demo.to_path_buf()), ..Default::default() },
        None,
    )?;
    let store = crate::store::Store::open(&dir.0)?;
    let events = store.all_events()?;
    let d = Demand::from_events(&events, &|_| String::new(), Freq::Weekly);
    let n = d.len();
    anyhow::ensure!(n > 3 * H, "too little history: {n} weeks");
    let origins = [n - 2 * H, n - H - H / 2, n - H];
    println!(
        "aisle bench forecast: {} products, {n} whole weeks from {} ({} purchase lines of known customers, loaded in {:.1} s); \
         origins {:?} (weeks before the end: 16, 12, 8), {H} weeks ahead",
        d.products.len(),
        d.freq.label(d.start),
        events.len(),
        t.elapsed().as_secs_f64(),
        origins.iter().map(|o| d.freq.label(d.start + *o as i64)).collect::<Vec<_>>()
    );
    // the series scored at each origin: first sold 20 weeks or more before it (room for a validation window and
    // for the references' models to fit), and not flat
    let eligible = |o: usize| -> Vec<(String, &[f64])> {
        d.products
            .iter()
            .map(|(k, y)| (k.clone(), forecast::from_first_sale(&y[..o])))
            .filter(|(_, y)| y.len() >= 2 * H + 4 && measure::rmsse_scale(y) > 0.0)
            .collect()
    };
    let mut rows: Vec<(String, Forecasts, f64)> = vec![];
    let mut choices = vec![forecast::SERVED, forecast::Choice::TopMean(3), forecast::Choice::PerSeries];
    choices.extend(forecast::models::ALL.iter().map(|m| forecast::Choice::Only(*m)));
    for choice in choices {
        let t = Instant::now();
        let mut f = Forecasts::new();
        let mut chosen: HashMap<String, usize> = HashMap::new();
        for &o in &origins {
            let s = eligible(o);
            let ys: Vec<&[f64]> = s.iter().map(|(_, y)| *y).collect();
            let out = forecast::forecast_all(&ys, Some(&d.total[..o]), H, d.freq.season(), choice);
            for ((k, _), sf) in s.iter().zip(out) {
                *chosen.entry(sf.method_name()).or_default() += 1;
                let steps = (0..H).map(|i| [sf.mean[i], sf.lo80[i], sf.hi80[i], sf.lo95[i], sf.hi95[i]]).collect();
                f.insert((o, k.clone()), steps);
            }
        }
        let mut c: Vec<(String, usize)> = chosen.into_iter().collect();
        c.sort_by_key(|x| std::cmp::Reverse(x.1));
        let name = match choice {
            forecast::Choice::Only(m) => format!("aisle {}", m.name()),
            forecast::Choice::PerSeries => {
                let list: Vec<String> = c.iter().map(|(m, n)| format!("{m} {n}")).collect();
                println!("per-series choices over the origins: {}", list.join(", "));
                "aisle per-series choice (ref.)".to_string()
            }
            forecast::Choice::TopMean(k) => format!("aisle top-{k} mean (ref.)"),
            forecast::Choice::Auto => {
                let list: Vec<String> = c.iter().map(|(m, n)| format!("{m} {n}")).collect();
                println!("served (the rule chosen on the window before each origin's validation): {}", list.join(", "));
                "aisle: as served".to_string()
            }
        };
        rows.push((name, f, t.elapsed().as_secs_f64()));
    }
    if let Some(script) = reference {
        match reference_forecasts(&origins, &eligible, script, python) {
            Ok((refs, secs)) => {
                for (name, f) in refs {
                    rows.push((format!("statsforecast {name}"), f, secs));
                }
            }
            Err(e) => println!("statsforecast not run: {e:#}"),
        }
    } else {
        println!("statsforecast not run (--reference benches/forecast_reference.py, with statsforecast installed)");
    }
    println!();
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8}",
        "model", "RMSSE", "median", "MASE", "series", "cov80", "cov95", "secs"
    );
    for (name, f, secs) in &rows {
        let s = score(&d, &origins, &eligible, f);
        let cov = |c: Option<f64>| c.map(|c| format!("{c:.3}")).unwrap_or_else(|| "-".into());
        println!(
            "{name:<34} {:>8.4} {:>8.4} {:>8.4} {:>8} {:>7} {:>7} {secs:>8.1}",
            s.rmsse,
            s.median_rmsse,
            s.mase,
            s.cases,
            cov(s.cover80),
            cov(s.cover95)
        );
    }
    println!("(mean over every product and origin; RMSSE and MASE scaled by each series' one-step naive errors before the origin)");
    Ok(())
}

struct Score {
    rmsse: f64,
    median_rmsse: f64,
    mase: f64,
    cases: usize,
    cover80: Option<f64>,
    cover95: Option<f64>,
}

fn score<'a>(
    d: &'a Demand,
    origins: &[usize],
    eligible: &dyn Fn(usize) -> Vec<(String, &'a [f64])>,
    f: &Forecasts,
) -> Score {
    let (mut r, mut m) = (vec![], vec![]);
    let (mut in80, mut in95, mut with_intervals) = (0usize, 0usize, 0usize);
    for &o in origins {
        for (k, hist) in eligible(o) {
            let Some(steps) = f.get(&(o, k.clone())) else { continue };
            let actual = &d.products[&k][o..o + H];
            let mean: Vec<f64> = steps.iter().map(|s| s[0]).collect();
            r.extend(measure::rmsse(hist, &mean, actual));
            m.extend(measure::mase(hist, &mean, actual));
            for (s, a) in steps.iter().zip(actual) {
                if s[1].is_finite() && s[4].is_finite() {
                    with_intervals += 1;
                    in80 += usize::from(s[1] <= *a && *a <= s[2]);
                    in95 += usize::from(s[3] <= *a && *a <= s[4]);
                }
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let share = |x: usize| (with_intervals > 0).then(|| x as f64 / with_intervals as f64);
    Score {
        rmsse: mean(&r),
        median_rmsse: measure::quantile(&r, 0.5),
        mase: mean(&m),
        cases: r.len(),
        cover80: share(in80),
        cover95: share(in95),
    }
}

/// Runs the reference script on the exported series and reads its forecasts back, per model.
fn reference_forecasts<'a>(
    origins: &[usize],
    eligible: &dyn Fn(usize) -> Vec<(String, &'a [f64])>,
    script: &Path,
    python: &str,
) -> anyhow::Result<(Vec<(String, Forecasts)>, f64)> {
    let dir = super::TempDir::new("forecast-reference")?;
    let mut csv = String::from("cutoff,unique_id,t,y\n");
    for &o in origins {
        for (k, y) in eligible(o) {
            for (t, v) in y.iter().enumerate() {
                let _ = writeln!(csv, "{o},{k},{},{v}", t + 1);
            }
        }
    }
    std::fs::write(dir.0.join("series.csv"), csv)?;
    let t = Instant::now();
    let out = std::process::Command::new(python).arg(script).arg(&dir.0).arg(H.to_string()).output()?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
    let mut by_model: Vec<(String, Forecasts)> = vec![];
    let mut r = csv::Reader::from_path(dir.0.join("forecasts.csv"))?;
    for rec in r.records() {
        let rec = rec?;
        let num = |i: usize| rec.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        let model = rec.get(0).unwrap_or("").to_string();
        let (o, k, step) = (num(1) as usize, rec.get(2).unwrap_or("").to_string(), num(3) as usize);
        let idx = match by_model.iter().position(|(m, _)| *m == model) {
            Some(i) => i,
            None => {
                by_model.push((model, Forecasts::new()));
                by_model.len() - 1
            }
        };
        let steps = by_model[idx].1.entry((o, k)).or_insert_with(|| vec![[f64::NAN; 5]; H]);
        if step < H {
            // demand is never negative: a reference's negative forecast or bound counts as zero, as Aisle's do
            steps[step] = [num(4), num(5), num(6), num(7), num(8)].map(|v| if v.is_finite() { v.max(0.0) } else { v });
        }
    }
    Ok((by_model, secs))
}
