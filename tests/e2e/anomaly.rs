//! Anomaly signals on the demo shop's real traffic (Online Retail): the API's daily band, the periods outside it
//! with their evidence (the shop's real closures among them), the CSV, and the staff page in Chromium drawing the
//! API's points and bands.
use crate::staff::browser_sign_in;
use crate::support::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_anomalies_reach_the_api_the_csv_and_the_staff_page() {
    let app = shared();
    let (status, r) = get_json(app.port, "/api/anomalies?grain=day&metric=visitors&periods=400&to=2011-12-09").await;
    assert_eq!(status, 200, "{r}");
    let points = r["points"].as_array().unwrap();
    assert!(points.len() > 300, "a year of days: {}", points.len());
    let mut flagged = 0;
    for p in points {
        let (v, low, high) = (p["value"].as_f64().unwrap(), p["low"].as_f64(), p["high"].as_f64());
        match (p["flag"].as_str(), low, high) {
            (Some("spike"), Some(_), Some(h)) => assert!(v > h, "{p}"),
            (Some("drop"), Some(l), Some(_)) => assert!(v < l, "{p}"),
            (None, Some(l), Some(h)) => assert!(l <= v && v <= h, "{p}"),
            (None, None, None) => {}
            _ => panic!("a flag needs its band: {p}"),
        }
        if p["flag"].is_string() {
            flagged += 1;
            assert!(p["evidence"].as_str().unwrap().contains("expected"), "{p}");
        }
    }
    assert_eq!(r["flagged"].as_u64().unwrap(), flagged);
    // Easter Monday 2011, a bank holiday the shop was closed, is a drop against the Mondays before it
    let easter = points.iter().find(|p| p["period"] == "2011-04-25").unwrap();
    assert_eq!(easter["flag"], "drop", "{easter}");
    assert_eq!(easter["value"], 0.0);
    // conversion per hour has its own band
    let (status, hourly) =
        get_json(app.port, "/api/anomalies?grain=hour&metric=conversion&periods=48&to=2011-12-09%2023:00").await;
    assert_eq!(status, 200, "{hourly}");
    assert_eq!(hourly["points"].as_array().unwrap().len(), 48);
    for (path, want) in [
        ("/api/anomalies?grain=week", 400),
        ("/api/anomalies?metric=likes", 400),
        ("/api/anomalies?periods=0", 400),
        ("/api/anomalies?to=soon", 400),
    ] {
        let (status, body) = get_json(app.port, path).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{path}: {body}");
    }
    assert_eq!(http(app.port, "GET", "/api/anomalies", &[], "").await.status, 401);
    let (status, suspects) = get_json(app.port, "/api/anomalies/shoppers").await;
    assert_eq!(status, 200);
    assert!(suspects.is_array());
    // CSV: one row per period
    let auth = format!("Bearer {TOKEN}");
    let csv = http(
        app.port,
        "GET",
        "/staff/anomalies/export?grain=day&periods=400&to=2011-12-09",
        &[("Authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.body.lines().count(), points.len() + 1);
    assert!(csv.body.lines().any(|l| l.starts_with("2011-04-25,") && l.contains(",drop,")), "{}", &csv.body[..300]);

    // the page draws the API's series: each point's value and band (other tests post events dated today, so the
    // latest weeks may be empty: the page is asked for the demo's last weeks)
    let (_, shown) = get_json(app.port, "/api/anomalies?to=2011-12-09").await;
    let want: Vec<(String, f64, Option<f64>)> = shown["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["period"].as_str().unwrap().to_string(), p["value"].as_f64().unwrap(), p["high"].as_f64()))
        .collect();
    let support = staff_login(app.port, "support").await;
    let mut b = browser_sign_in(app.port, &support, "/staff/anomalies").await;
    b.eval("(() => { document.getElementById('to').value = '2011-12-09'; document.getElementById('ask').requestSubmit(); return true })()")
        .await;
    b.wait_for("location.search.includes('to=2011-12-09') && document.readyState === 'complete'", 60).await;
    let drawn = b
        .eval(
            "JSON.stringify([...document.querySelectorAll('[data-chart=traffic] .pt')].map(p =>
               [p.dataset.label, Number(p.dataset.value), p.dataset.high ? Number(p.dataset.high) : null]))",
        )
        .await;
    let drawn: Vec<(String, f64, Option<f64>)> = serde_json::from_str(drawn.as_str().unwrap()).unwrap();
    assert_eq!(drawn.len(), want.len());
    for (d, w) in drawn.iter().zip(&want) {
        assert_eq!(d.0, w.0);
        assert!((d.1 - w.1).abs() < 1e-6, "{d:?} {w:?}");
        match (d.2, w.2) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-3, "{d:?} {w:?}"),
            (None, None) => {}
            other => panic!("band drawn differently: {other:?}"),
        }
    }
    let count = b.eval("document.getElementById('flagged-count').textContent.trim()").await;
    assert_eq!(count, Value::String(shown["flagged"].to_string()));
}
