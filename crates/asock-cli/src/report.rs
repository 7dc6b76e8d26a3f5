//! The bench report: a table on stdout, every raw figure as JSON, the ratios as an SVG chart.

use std::fmt::Write as _;

use crate::bench::Sample;

pub struct Report {
    pub command: String,
    pub rounds: usize,
    pub seconds_per_run: f64,
    pub total_seconds: f64,
    pub backend: String,
    pub scenarios: Vec<ScenarioReport>,
}

pub struct SystemReport {
    pub name: String,
    pub samples: Vec<Sample>,
    pub median: f64,
}

pub struct ScenarioReport {
    pub id: String,
    pub title: String,
    pub unit: String,
    pub higher_is_better: bool,
    pub references: Vec<String>,
    pub systems: Vec<SystemReport>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl ScenarioReport {
    pub fn new(
        id: &str,
        title: &str,
        unit: &str,
        higher_is_better: bool,
        references: &[&str],
        names: &[&str],
        samples: Vec<Vec<Sample>>,
    ) -> Self {
        ScenarioReport {
            id: id.into(),
            title: title.into(),
            unit: unit.into(),
            higher_is_better,
            references: references.iter().map(|s| s.to_string()).collect(),
            systems: names
                .iter()
                .zip(samples)
                .map(|(n, s)| SystemReport {
                    name: n.to_string(),
                    median: median(&s.iter().map(|x| x.value).collect::<Vec<_>>()),
                    samples: s,
                })
                .collect(),
        }
    }

    fn median_of(&self, name: &str) -> Option<f64> {
        self.systems
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.median)
    }

    /// asock's median over a reference's: above 1 means asock is better, for either direction.
    pub fn ratio(&self, system: &SystemReport, reference: &str) -> Option<f64> {
        let r = self.median_of(reference)?;
        Some(if self.higher_is_better {
            system.median / r
        } else {
            r / system.median
        })
    }
}

fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "GB/s" => format!("{v:.2}"),
        _ => format!("{v:.0}"),
    }
}

pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "asock bench: {} round(s) of {:.1} s per system, interleaved; backend {}; medians ({:.0} s in all)",
        r.rounds, r.seconds_per_run, r.backend, r.total_seconds
    );
    for s in &r.scenarios {
        let _ = writeln!(
            out,
            "\n{}  {}  [{}{}]",
            s.id,
            s.title,
            s.unit,
            if s.higher_is_better {
                ""
            } else {
                ", lower is better"
            }
        );
        let mut header = format!("  {:<18} {:>14}", "system", "median");
        for reference in &s.references {
            let _ = write!(header, "  {:>18}", format!("x {reference}"));
        }
        let _ = writeln!(out, "{header}");
        for sys in &s.systems {
            let mut line = format!("  {:<18} {:>14}", sys.name, fmt_value(sys.median, &s.unit));
            for reference in &s.references {
                let ratio = s
                    .ratio(sys, reference)
                    .map_or("-".into(), |x| format!("{x:.2}"));
                let _ = write!(line, "  {ratio:>18}");
            }
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = writeln!(
        out,
        "\n(ratios: above 1.00 means the row beats the column's system)"
    );
    out
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

pub fn json(r: &Report) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\"command\":{},\"rounds\":{},\"seconds_per_run\":{},\"total_seconds\":{},\"backend\":{},\"scenarios\":[",
        json_str(&r.command),
        r.rounds,
        json_num(r.seconds_per_run),
        json_num(r.total_seconds),
        json_str(&r.backend)
    );
    for (i, s) in r.scenarios.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"id\":{},\"title\":{},\"unit\":{},\"higher_is_better\":{},\"systems\":[",
            json_str(&s.id),
            json_str(&s.title),
            json_str(&s.unit),
            s.higher_is_better
        );
        for (j, sys) in s.systems.iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            let samples: Vec<String> = sys
                .samples
                .iter()
                .map(|x| {
                    format!(
                        "{{\"value\":{},\"work\":{},\"seconds\":{}}}",
                        json_num(x.value),
                        x.work,
                        json_num(x.seconds)
                    )
                })
                .collect();
            let ratios: Vec<String> = s
                .references
                .iter()
                .map(|reference| {
                    format!(
                        "{}:{}",
                        json_str(reference),
                        s.ratio(sys, reference).map_or("null".into(), json_num)
                    )
                })
                .collect();
            let _ = write!(
                o,
                "{{\"name\":{},\"median\":{},\"ratios\":{{{}}},\"samples\":[{}]}}",
                json_str(&sys.name),
                json_num(sys.median),
                ratios.join(","),
                samples.join(",")
            );
        }
        o.push_str("]}");
    }
    o.push_str("]}\n");
    o
}

/// A horizontal bar per (scenario, system): its ratio to the scenario's first reference.
pub fn svg(r: &Report) -> String {
    let rows: usize = r.scenarios.iter().map(|s| s.systems.len() + 1).sum();
    let (w, row_h, left, bar_w) = (760.0, 22.0, 260.0, 420.0);
    let h = 50.0 + rows as f64 * row_h;
    let max_ratio = r
        .scenarios
        .iter()
        .flat_map(|s| {
            s.systems
                .iter()
                .filter_map(move |y| s.ratio(y, &s.references[0]))
        })
        .filter(|x| x.is_finite())
        .fold(1.0f64, f64::max);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        o,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="15">asock bench: median ratio to each scenario's reference (1.0 = equal, right is better)</text>"#
    );
    let x1 = left + bar_w / max_ratio;
    let mut y = 40.0;
    for s in &r.scenarios {
        let reference = &s.references[0];
        let _ = writeln!(
            o,
            r#"<text x="10" y="{}" font-weight="bold">{} {} (vs {})</text>"#,
            y + 15.0,
            s.id,
            s.unit,
            reference
        );
        y += row_h;
        for sys in &s.systems {
            let ratio = s.ratio(sys, reference).unwrap_or(0.0);
            let len = if ratio.is_finite() {
                bar_w * ratio / max_ratio
            } else {
                0.0
            };
            let fill = if sys.name == "asock" {
                "#2b6cb0"
            } else {
                "#a0aec0"
            };
            let _ = writeln!(
                o,
                r#"<text x="20" y="{ty}">{name}</text><rect x="{left}" y="{ry}" width="{len:.1}" height="{bh}" fill="{fill}"/><text x="{tx:.1}" y="{ty}">{ratio:.2}</text>"#,
                ty = y + 15.0,
                name = sys.name,
                ry = y + 3.0,
                bh = row_h - 6.0,
                tx = left + len + 5.0,
            );
            y += row_h;
        }
    }
    let _ = writeln!(
        o,
        r#"<line x1="{x1:.1}" y1="35" x2="{x1:.1}" y2="{h}" stroke="black" stroke-dasharray="4 3"/>"#
    );
    o.push_str("</svg>\n");
    o
}
