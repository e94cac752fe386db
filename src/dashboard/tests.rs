use super::*;

const DAY: u64 = 86_400;
// 2026-11-30T12:00:00Z
const NOW: u64 = 1_796_040_000;

fn row(started: &str, handoff: bool, csat: Option<u8>, failed: bool) -> Row {
    Row {
        id: "s".into(),
        customer: None,
        started: started.into(),
        ended: started.into(),
        duration_s: 0,
        turns: 2,
        first_message: String::new(),
        intents: vec![],
        products_shown: vec![],
        handoff,
        waiting: false,
        live: None,
        csat,
        flagged: false,
        check_failed: failed,
        busy: false,
        clicks: 0,
        carts: 0,
        purchases: 0,
        outcome: crate::support::Outcome::None,
        frustration: None,
        frustrated: false,
    }
}

#[test]
fn a_range_defaults_to_thirty_days_and_refuses_nonsense() {
    let r = Range::parse("", "", NOW).unwrap();
    assert_eq!((r.from.as_str(), r.to.as_str()), ("2026-11-01", "2026-11-30"));
    assert_eq!(r.days().len(), 30);
    assert_eq!(Range::parse("2026-11-05", "2026-11-05", NOW).unwrap().days(), vec!["2026-11-05"]);
    assert!(Range::parse("2026-11-05", "2026-11-01", NOW).unwrap_err().contains("after"));
    assert!(Range::parse("yesterday", "", NOW).unwrap_err().contains("YYYY-MM-DD"));
    assert!(Range::parse("2020-01-01", "2026-01-01", NOW).unwrap_err().contains("at most"));
    let _ = DAY;
}

#[test]
fn conversation_charts_count_each_day_and_leave_out_days_without_a_rate() {
    let range = Range::parse("2026-11-01", "2026-11-03", NOW).unwrap();
    let rows = vec![
        row("2026-11-01T09:00:00", true, Some(2), false),
        row("2026-11-01T10:00:00", false, Some(4), true),
        row("2026-11-03T10:00:00", false, None, false),
        row("2026-10-31T10:00:00", true, Some(1), true),
    ];
    let charts = conversation_charts(&range, &rows);
    let get = |id: &str| charts.iter().find(|c| c.id == id).unwrap().points.clone();
    let values = |id: &str| get(id).iter().map(|p| (p.label.clone(), p.value)).collect::<Vec<_>>();
    assert_eq!(
        values("conversations"),
        vec![("2026-11-01".into(), 2.0), ("2026-11-02".into(), 0.0), ("2026-11-03".into(), 1.0)]
    );
    assert_eq!(values("handoff_rate"), vec![("2026-11-01".into(), 0.5), ("2026-11-03".into(), 0.0)]);
    assert_eq!(values("csat"), vec![("2026-11-01".into(), 3.0)]);
    assert_eq!(values("check_failures")[0], ("2026-11-01".into(), 1.0));
}

#[test]
fn every_drawn_point_carries_its_value_and_labels_are_escaped() {
    for kind in [Kind::Line, Kind::Bar, Kind::Interval] {
        let c = Chart {
            id: "t",
            title: "T".into(),
            unit: "count",
            kind,
            points: vec![
                Point { label: "<b>a</b>".into(), value: 2.0, low: Some(1.0), high: Some(3.0) },
                Point::new("b", -1.5),
                Point::new("c", 7.0),
            ],
            note: String::new(),
        };
        let s = svg::draw(&c);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"), "{s}");
        assert!(!s.contains("<b>"), "labels are escaped: {s}");
        assert_eq!(s.matches("class=\"pt\"").count(), 3, "{kind:?}: {s}");
        for v in ["data-value=\"2\"", "data-value=\"-1.5\"", "data-value=\"7\""] {
            assert!(s.contains(v), "{kind:?} lacks {v}: {s}");
        }
    }
    let empty =
        Chart { id: "e", title: "E".into(), unit: "count", kind: Kind::Line, points: vec![], note: String::new() };
    assert!(svg::draw(&empty).contains("data-points=\"0\""));
}
