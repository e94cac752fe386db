//! Demand forecasts on the demo shop (Online Retail's real purchases), through the API, the CLI's JSON shape and
//! the staff page in Chromium: the drawn points are the API's.
use crate::staff::browser_sign_in;
use crate::support::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_products_forecast_reaches_the_api_the_csv_and_the_staff_page() {
    let app = shared();
    // the demo's best-selling product (the white hanging heart t-light holder)
    let (status, r) = get_json(app.port, "/api/forecast?level=product&key=85123A&weeks=6").await;
    assert_eq!(status, 200, "{r}");
    let history = r["history"].as_array().unwrap();
    let forecast = r["forecast"].as_array().unwrap();
    assert_eq!(forecast.len(), 6);
    assert!(history.len() >= 20, "half a year of weeks: {}", history.len());
    assert!(history.iter().any(|h| h[1].as_f64().unwrap() > 0.0));
    // the first forecast week follows the last whole week of history
    let last = history.last().unwrap()[0].as_str().unwrap().to_string();
    assert!(forecast[0]["period"].as_str().unwrap() > last.as_str());
    for f in forecast {
        let v = |k: &str| f[k].as_f64().unwrap();
        assert!(v("lo95") <= v("lo80") && v("lo80") <= v("mean") + 1e-9 && v("mean") <= v("hi80") + 1e-9, "{f}");
        assert!(v("hi80") <= v("hi95") && v("lo95") >= 0.0, "{f}");
    }
    assert!(!r["method"].as_str().unwrap().is_empty());
    // the shop's total and daily periods
    let (status, shop) = get_json(app.port, "/api/forecast?level=shop&freq=daily&weeks=1").await;
    assert_eq!(status, 200, "{shop}");
    assert_eq!(shop["forecast"].as_array().unwrap().len(), 7);
    // clear errors
    for (path, want) in [
        ("/api/forecast?level=brand&key=x", 400),
        ("/api/forecast?level=product", 400),
        ("/api/forecast?weeks=12", 400),
        ("/api/forecast?level=product&key=NO-SUCH", 404),
    ] {
        let (status, body) = get_json(app.port, path).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{path}: {body}");
    }
    let anonymous = http(app.port, "GET", "/api/forecast", &[], "").await;
    assert_eq!(anonymous.status, 401);
    // CSV: the history's rows, then the forecast's
    let auth = format!("Bearer {TOKEN}");
    let csv = http(
        app.port,
        "GET",
        "/staff/forecast/export?level=product&key=85123A&weeks=6",
        &[("Authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(csv.status, 200);
    let rows: Vec<&str> = csv.body.lines().collect();
    assert_eq!(rows[0], "period,kind,units,lo80,hi80,lo95,hi95");
    assert_eq!(rows.iter().filter(|l| l.contains(",forecast,")).count(), 6);
    assert_eq!(rows.iter().filter(|l| l.contains(",actual,")).count(), history.len());

    // the staff page draws the same points
    let support = staff_login(app.port, "support").await;
    let mut b = browser_sign_in(app.port, &support, "/staff/forecast").await;
    assert!(b.eval("document.querySelectorAll('[data-chart=forecast] .pt').length").await.as_u64().unwrap() > 0);
    // the form asks for the product
    b.eval(
        "(() => { document.getElementById('level').value = 'product'; document.getElementById('key').value = '85123A';
           document.getElementById('weeks').value = '6'; document.getElementById('ask').requestSubmit(); return true })()",
    )
    .await;
    b.wait_for("location.search.includes('key=85123A') && document.readyState === 'complete'", 60).await;
    let drawn = b
        .eval(
            "JSON.stringify([...document.querySelectorAll('[data-chart=forecast] .pt')].map(p =>
               [p.dataset.label, Number(p.dataset.value), p.dataset.high ? Number(p.dataset.high) : null]))",
        )
        .await;
    let drawn: Vec<(String, f64, Option<f64>)> = serde_json::from_str(drawn.as_str().unwrap()).unwrap();
    let want: Vec<(String, f64, Option<f64>)> = history
        .iter()
        .map(|h| (h[0].as_str().unwrap().to_string(), h[1].as_f64().unwrap(), None))
        .chain(
            forecast
                .iter()
                .map(|f| (f["period"].as_str().unwrap().to_string(), f["mean"].as_f64().unwrap(), f["hi80"].as_f64())),
        )
        .collect();
    assert_eq!(drawn.len(), want.len(), "{drawn:?}");
    for (d, w) in drawn.iter().zip(&want) {
        assert_eq!(d.0, w.0);
        assert!((d.1 - w.1).abs() < 1e-6 && d.2.zip(w.2).is_none_or(|(a, b)| (a - b).abs() < 1e-6), "{d:?} {w:?}");
    }
    let rows = b.eval("document.querySelectorAll('#forecast-table tbody tr').length").await;
    assert_eq!(rows.as_u64(), Some(6));
    let page: Value = b.eval("document.getElementById('method').textContent").await;
    assert_eq!(page.as_str(), r["method"].as_str());
}
