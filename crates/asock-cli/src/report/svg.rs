//! The SVG chart: per scenario, one bar per system with its median ratio to the scenario's
//! first reference, the ratio and the median written on the bar's end, every asock variant in
//! blue, and the run's details in a caption.

use std::fmt::Write as _;

use super::{fmt_value, Report};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn svg(r: &Report) -> String {
    let m = &r.meta;
    let caption = [
        format!(
            "asock {}, {}, {} ({} x {})",
            m.asock_version, m.date, m.kernel, m.cpu_count, m.cpu_model
        ),
        format!(
            "asock backend {}; {}; {} round(s) of {:.1} s per system, interleaved; median of per-round ratios",
            m.backend,
            m.peer_drivers
                .iter()
                .map(|d| format!("{} on {}", d.runtime, d.driver))
                .collect::<Vec<_>>()
                .join(", "),
            m.rounds,
            m.seconds_per_run
        ),
        format!("command: {}", m.command.join(" ")),
    ];
    let rows: usize = r.scenarios.iter().map(|s| s.systems.len() + 1).sum();
    let (w, row_h, left, bar_w) = (900.0, 22.0, 230.0, 420.0);
    let top = 40.0;
    let h = top + rows as f64 * row_h + 20.0 + caption.len() as f64 * 16.0 + 10.0;
    let ratio_of = |s: &super::ScenarioReport, y: &super::SystemReport| {
        let reference = s.references.first()?;
        if *reference == y.name {
            return Some(1.0);
        }
        y.ratios.get(reference).map(|r| r.median)
    };
    let max_ratio = r
        .scenarios
        .iter()
        .flat_map(|s| s.systems.iter().filter_map(move |y| ratio_of(s, y)))
        .filter(|x| x.is_finite())
        .fold(1.0f64, f64::max);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        o,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="15">asock bench: each system's median ratio to the scenario's reference (1.00 = equal, longer is better); asock in blue</text>"#
    );
    let x1 = left + bar_w / max_ratio;
    // The 1.00 line first, so the bars and their labels are drawn over it.
    let _ = writeln!(
        o,
        r#"<line x1="{x1:.1}" y1="{top}" x2="{x1:.1}" y2="{}" stroke="black" stroke-dasharray="4 3"/>"#,
        top + rows as f64 * row_h
    );
    let mut y = top;
    for s in &r.scenarios {
        let reference = s.references.first().map_or("", String::as_str);
        let _ = writeln!(
            o,
            r#"<text x="10" y="{}" font-weight="bold">{} {} (x {})</text>"#,
            y + 15.0,
            s.id,
            escape(s.unit),
            escape(reference)
        );
        y += row_h;
        for sys in &s.systems {
            let ratio = ratio_of(s, sys).filter(|x| x.is_finite());
            let len = ratio.map_or(0.0, |x| bar_w * x / max_ratio);
            let fill = if sys.name.starts_with("asock") {
                "#2b6cb0"
            } else {
                "#a0aec0"
            };
            let label = format!(
                "{}  ({} {})",
                ratio.map_or("-".into(), |x| format!("{x:.2}")),
                fmt_value(sys.median, s.unit),
                s.unit
            );
            let _ = writeln!(
                o,
                r#"<text x="20" y="{ty}">{name}</text><rect x="{left}" y="{ry}" width="{len:.1}" height="{bh}" fill="{fill}"/><text x="{tx:.1}" y="{ty}">{label}</text>"#,
                ty = y + 15.0,
                name = escape(&sys.name),
                ry = y + 3.0,
                bh = row_h - 6.0,
                tx = left + len + 5.0,
                label = escape(&label),
            );
            y += row_h;
        }
    }
    y += 20.0;
    for line in &caption {
        let _ = writeln!(
            o,
            r##"<text x="10" y="{y}" font-size="11" fill="#4a5568">{}</text>"##,
            escape(line)
        );
        y += 16.0;
    }
    o.push_str("</svg>\n");
    o
}
