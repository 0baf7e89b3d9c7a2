//! The soak's memory curve as a small SVG line chart: resident memory (MiB) over minutes, with
//! the band a flat run must stay in (±`band` MiB around the reading at `from_minute`).
//!
//! Invariant: pure text out of the samples given — no I/O here; an empty series gives a chart
//! with axes only.

use std::fmt::Write;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 40.0;

/// `points` are (minute, MiB), in time order; `title` names the run.
pub fn rss_svg(title: &str, points: &[(f64, f64)], from_minute: f64, band: f64) -> String {
    let max_x = points.iter().map(|p| p.0).fold(1.0, f64::max).ceil();
    let base = points
        .iter()
        .find(|p| p.0 >= from_minute)
        .or(points.last())
        .map(|p| p.1);
    let hi = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let top_y = (hi.max(base.unwrap_or(0.0) + band) / 10.0).ceil() * 10.0 + 10.0;
    let x = |m: f64| LEFT + m / max_x * (WIDTH - LEFT - RIGHT);
    let y = |mib: f64| TOP + (1.0 - mib / top_y) * (HEIGHT - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="18" font-weight="bold">{}</text>
"##,
        escape(title)
    );
    if let Some(b) = base {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="44" text-anchor="end" fill="#2e7d32">green: ±{band} MiB around minute {from_minute:.0}</text>"##,
            WIDTH - RIGHT
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#d8f0d8"/>"##,
            x(from_minute.min(max_x)),
            y(b + band),
            x(max_x) - x(from_minute.min(max_x)),
            y(b - band) - y(b + band)
        );
    }
    // Axes with a tick every 10 MiB and every 5 minutes.
    let _ = writeln!(
        svg,
        r##"<path d="M{LEFT} {TOP} V{:.1} H{:.1}" stroke="#444" fill="none"/>"##,
        y(0.0),
        x(max_x)
    );
    let mut mib = 0.0;
    while mib <= top_y {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{mib:.0}</text>"##,
            LEFT - 6.0,
            y(mib) + 4.0
        );
        mib += 10.0;
    }
    let mut minute = 0.0;
    while minute <= max_x {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{minute:.0}</text>"##,
            x(minute),
            y(0.0) + 16.0
        );
        minute += 5.0;
    }
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">minutes</text>
<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">RSS (MiB)</text>"##,
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 6.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0
    );
    let path: Vec<String> = points
        .iter()
        .map(|&(m, r)| format!("{:.1},{:.1}", x(m), y(r)))
        .collect();
    if !path.is_empty() {
        let _ = writeln!(
            svg,
            r##"<polyline points="{}" fill="none" stroke="#1f5fbf" stroke-width="2"/>"##,
            path.join(" ")
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_has_a_point_per_sample_and_the_band_starts_at_its_minute() {
        let svg = rss_svg(
            "soak <50>",
            &[(1.0, 30.0), (5.0, 32.0), (10.0, 33.0)],
            5.0,
            5.0,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("soak &lt;50&gt;"));
        let points = svg
            .split("points=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap();
        assert_eq!(points.split(' ').count(), 3);
        // The ±5 MiB band is drawn (its place is checked by eye in README's chart).
        assert!(svg.contains("fill=\"#d8f0d8\""));
        let empty = rss_svg("empty", &[], 5.0, 5.0);
        assert!(!empty.contains("polyline"));
    }
}
