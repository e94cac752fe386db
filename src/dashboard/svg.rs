//! Charts drawn as SVG on the server: no script, no CDN, nothing to vendor. Every drawn point, bar or interval
//! carries its label and value (`data-label`, `data-value`, and `data-low`/`data-high` for intervals) and a
//! `<title>` a screen reader and a hovering pointer read, so what is drawn can be checked against the data.
use super::{Chart, Kind};
use std::fmt::Write;

const W: f64 = 560.0;
const H: f64 = 190.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 34.0;

pub fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A value as the chart writes it: shares as percentages, money and scores with two decimals.
pub fn show(unit: &str, v: f64) -> String {
    match unit {
        "share" => format!("{:.1}%", v * 100.0),
        "count" if v.fract() == 0.0 => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

/// Where values and points land on the canvas.
struct Geometry {
    lo: f64,
    hi: f64,
    n: usize,
}

impl Geometry {
    fn of(c: &Chart) -> Self {
        let lows = c.points.iter().map(|p| p.low.unwrap_or(p.value));
        let highs = c.points.iter().map(|p| p.high.unwrap_or(p.value));
        let mut lo = lows.fold(f64::INFINITY, f64::min).min(0.0);
        let mut hi = highs.fold(f64::NEG_INFINITY, f64::max).max(0.0);
        if (hi - lo).abs() < 1e-12 {
            hi = lo + 1.0;
        }
        let pad = (hi - lo) * 0.05;
        (lo, hi) = (if lo < 0.0 { lo - pad } else { lo }, hi + pad);
        Self { lo, hi, n: c.points.len() }
    }
    fn plot_height(&self) -> f64 {
        H - TOP - BOTTOM
    }
    fn y(&self, v: f64) -> f64 {
        TOP + self.plot_height() * (1.0 - (v - self.lo) / (self.hi - self.lo))
    }
    /// A line's point `i` (from edge to edge).
    fn x_edge(&self, i: usize) -> f64 {
        let pw = W - LEFT - RIGHT;
        LEFT + if self.n == 1 { pw / 2.0 } else { pw * i as f64 / (self.n - 1) as f64 }
    }
    /// A bar's or interval's centre `i` (in its own slot).
    fn x_slot(&self, i: usize) -> f64 {
        LEFT + (W - LEFT - RIGHT) * (i as f64 + 0.5) / self.n as f64
    }
}

/// The chart as one `<svg>` element (an empty-state note when it has no points).
pub fn draw(c: &Chart) -> String {
    let id = escape(c.id);
    if c.points.is_empty() {
        return format!("<p class=\"muted\" data-chart=\"{id}\" data-points=\"0\">Nothing in this range.</p>");
    }
    let g = Geometry::of(c);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" data-chart=\"{id}\" data-points=\"{n}\" viewBox=\"0 0 {W} {H}\" width=\"100%\" \
         role=\"img\" aria-label=\"{title}\" xmlns=\"http://www.w3.org/2000/svg\">",
        n = g.n,
        title = escape(&c.title)
    );
    // axes: the value range on the left, zero when it is inside
    let _ = write!(
        s,
        "<g class=\"axis\" font-size=\"11\" fill=\"#5b6675\"><text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{top}</text>\
         <text x=\"{lx}\" y=\"{by}\" text-anchor=\"end\">{bottom}</text></g>\
         <line x1=\"{LEFT}\" y1=\"{z}\" x2=\"{xr}\" y2=\"{z}\" stroke=\"#c9ced6\"/>",
        lx = LEFT - 6.0,
        ty = TOP + 10.0,
        by = TOP + g.plot_height(),
        top = escape(&show(c.unit, g.hi)),
        bottom = escape(&show(c.unit, g.lo)),
        z = g.y(0.0),
        xr = W - RIGHT,
    );
    match c.kind {
        Kind::Line => line(&mut s, c, &g),
        Kind::Bar => bars(&mut s, c, &g),
        Kind::Interval => intervals(&mut s, c, &g),
        Kind::Band => band(&mut s, c, &g),
    }
    // the first and last labels below (all of them when there are few)
    let shown: Vec<usize> = if g.n <= 8 { (0..g.n).collect() } else { vec![0, g.n - 1] };
    for i in shown {
        let x = if matches!(c.kind, Kind::Line | Kind::Band) { g.x_edge(i) } else { g.x_slot(i) };
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#5b6675\" text-anchor=\"middle\">{}</text>",
            H - 12.0,
            escape(&short(&c.points[i].label))
        );
    }
    s.push_str("</svg>");
    s
}

/// A point's data attributes and its title.
fn data(c: &Chart, p: &super::Point) -> (String, String) {
    let l = escape(&p.label);
    (
        format!("data-label=\"{l}\" data-value=\"{}\"", p.value),
        format!("<title>{l}: {}</title>", escape(&show(c.unit, p.value))),
    )
}

fn line(s: &mut String, c: &Chart, g: &Geometry) {
    let path: Vec<String> =
        c.points.iter().enumerate().map(|(i, p)| format!("{:.1},{:.1}", g.x_edge(i), g.y(p.value))).collect();
    let _ = write!(s, "<polyline fill=\"none\" stroke=\"#0f6b5c\" stroke-width=\"2\" points=\"{}\"/>", path.join(" "));
    for (i, p) in c.points.iter().enumerate() {
        let (attrs, title) = data(c, p);
        let _ = write!(
            s,
            "<circle class=\"pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#0f6b5c\" {attrs}>{title}</circle>",
            g.x_edge(i),
            g.y(p.value)
        );
    }
}

fn bars(s: &mut String, c: &Chart, g: &Geometry) {
    let bw = ((W - LEFT - RIGHT) / g.n as f64 * 0.7).max(1.0);
    for (i, p) in c.points.iter().enumerate() {
        let (top, base) = (g.y(p.value.max(0.0)), g.y(p.value.min(0.0)));
        let (attrs, title) = data(c, p);
        let _ = write!(
            s,
            "<rect class=\"pt\" x=\"{:.1}\" y=\"{top:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"#0f6b5c\" {attrs}>{title}</rect>",
            g.x_slot(i) - bw / 2.0,
            (base - top).max(0.5),
        );
    }
}

fn intervals(s: &mut String, c: &Chart, g: &Geometry) {
    for (i, p) in c.points.iter().enumerate() {
        let (cx, low, high) = (g.x_slot(i), p.low.unwrap_or(p.value), p.high.unwrap_or(p.value));
        let (attrs, _) = data(c, p);
        let _ = write!(
            s,
            "<g class=\"pt\" {attrs} data-low=\"{low}\" data-high=\"{high}\"><title>{l}: {v} [{sl}, {sh}]</title>\
             <line x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{y1:.1}\" y2=\"{y2:.1}\" stroke=\"#0f6b5c\" stroke-width=\"3\"/>\
             <circle cx=\"{cx:.1}\" cy=\"{yv:.1}\" r=\"4\" fill=\"#1d2430\"/></g>",
            l = escape(&p.label),
            v = escape(&show(c.unit, p.value)),
            sl = escape(&show(c.unit, low)),
            sh = escape(&show(c.unit, high)),
            y1 = g.y(low),
            y2 = g.y(high),
            yv = g.y(p.value),
        );
    }
}

/// The line, the band of the points that have an interval behind it, and each point with its data.
fn band(s: &mut String, c: &Chart, g: &Geometry) {
    let with: Vec<usize> = (0..c.points.len()).filter(|&i| c.points[i].low.is_some()).collect();
    if !with.is_empty() {
        let upper = with.iter().map(|&i| format!("{:.1},{:.1}", g.x_edge(i), g.y(c.points[i].high.unwrap_or(0.0))));
        let lower =
            with.iter().rev().map(|&i| format!("{:.1},{:.1}", g.x_edge(i), g.y(c.points[i].low.unwrap_or(0.0))));
        let pts: Vec<String> = upper.chain(lower).collect();
        let _ =
            write!(s, "<polygon class=\"band\" fill=\"#0f6b5c\" fill-opacity=\"0.18\" points=\"{}\"/>", pts.join(" "));
    }
    let path: Vec<String> =
        c.points.iter().enumerate().map(|(i, p)| format!("{:.1},{:.1}", g.x_edge(i), g.y(p.value))).collect();
    let _ = write!(s, "<polyline fill=\"none\" stroke=\"#0f6b5c\" stroke-width=\"2\" points=\"{}\"/>", path.join(" "));
    for (i, p) in c.points.iter().enumerate() {
        let (attrs, title) = data(c, p);
        let bounds = match (p.low, p.high) {
            (Some(l), Some(h)) => format!(" data-low=\"{l}\" data-high=\"{h}\""),
            _ => String::new(),
        };
        let fill = if p.low.is_some() { "#ffffff" } else { "#0f6b5c" };
        let _ = write!(
            s,
            "<circle class=\"pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{fill}\" stroke=\"#0f6b5c\" {attrs}{bounds}>{title}</circle>",
            g.x_edge(i),
            g.y(p.value)
        );
    }
}

/// Long labels shortened for the axis (the point's own title keeps them whole).
fn short(s: &str) -> String {
    if s.chars().count() <= 16 {
        s.to_string()
    } else {
        s.chars().take(15).chain(std::iter::once('…')).collect()
    }
}
