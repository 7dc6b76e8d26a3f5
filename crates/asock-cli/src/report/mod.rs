//! The bench report: the table on stdout, the JSON (run details and every raw sample, through
//! serde) and the SVG chart of the ratios.

mod meta;
mod svg;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::bench::{Sample, Scenario};
pub use meta::Meta;
pub use svg::svg;

#[derive(Serialize, Debug)]
pub struct Report {
    pub meta: Meta,
    pub scenarios: Vec<ScenarioReport>,
}

#[derive(Serialize, Debug)]
pub struct ScenarioReport {
    pub id: &'static str,
    pub title: String,
    pub unit: &'static str,
    /// What CPU time and allocations are counted per.
    pub op: &'static str,
    pub higher_is_better: bool,
    /// The systems ratios are taken against.
    pub references: Vec<String>,
    /// Whether the servers' errors are counted (P5).
    pub counts_server_errors: bool,
    pub systems: Vec<SystemReport>,
}

#[derive(Serialize, Debug)]
pub struct SystemReport {
    pub name: String,
    /// Median, minimum and maximum of the figure over the rounds.
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Median over the rounds of the CPU time per operation, microseconds.
    pub cpu_us_per_op: Option<f64>,
    /// Median over the rounds of the heap allocations per operation.
    pub allocations_per_op: Option<f64>,
    /// Errors its servers reported, all rounds together, and the first of them.
    pub server_errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_server_error: Option<String>,
    /// Per reference system (never itself): the ratio in each round and their median. Above
    /// 1 means this system did better, whichever way the unit goes.
    pub ratios: BTreeMap<String, Ratio>,
    /// Every round's raw sample, in round order.
    pub samples: Vec<Sample>,
}

#[derive(Serialize, Debug)]
pub struct Ratio {
    pub median: f64,
    pub per_round: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl ScenarioReport {
    pub fn new(s: &Scenario, samples: Vec<Vec<Sample>>) -> ScenarioReport {
        let values: Vec<Vec<f64>> = samples
            .iter()
            .map(|v| v.iter().map(|x| x.value).collect())
            .collect();
        let index = |name: &str| s.systems.iter().position(|y| y.name == name);
        let systems = s
            .systems
            .iter()
            .zip(&samples)
            .enumerate()
            .map(|(i, (y, own))| {
                let ratios = s
                    .references
                    .iter()
                    .filter(|r| **r != y.name)
                    .filter_map(|r| Some((r.clone(), index(r)?)))
                    .map(|(r, j)| {
                        let per_round: Vec<f64> = values[i]
                            .iter()
                            .zip(&values[j])
                            .map(|(a, b)| if s.higher_is_better { a / b } else { b / a })
                            .collect();
                        let ratio = Ratio {
                            median: median(&per_round),
                            per_round,
                        };
                        (r, ratio)
                    })
                    .collect();
                let per_op = |f: fn(&Sample) -> f64| {
                    let v: Vec<f64> = own
                        .iter()
                        .filter(|x| x.ops > 0.0)
                        .map(|x| f(x) / x.ops)
                        .collect();
                    finite(median(&v))
                };
                SystemReport {
                    name: y.name.clone(),
                    median: median(&values[i]),
                    min: values[i].iter().copied().fold(f64::INFINITY, f64::min),
                    max: values[i].iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    cpu_us_per_op: per_op(|x| x.cpu_seconds * 1e6),
                    allocations_per_op: per_op(|x| x.allocations as f64),
                    server_errors: own.iter().map(|x| x.server_errors).sum(),
                    first_server_error: own.iter().find_map(|x| x.first_server_error.clone()),
                    ratios,
                    samples: own.clone(),
                }
            })
            .collect();
        ScenarioReport {
            id: s.id.name(),
            title: s.title.clone(),
            unit: s.unit,
            op: s.op,
            higher_is_better: s.higher_is_better,
            // A reference that did not run (--only) gets no column.
            references: s
                .references
                .iter()
                .filter(|r| index(r).is_some())
                .cloned()
                .collect(),
            counts_server_errors: s.server_errors,
            systems,
        }
    }
}

/// `v` in the scenario's unit: GB/s with two decimals, anything else whole with thousands
/// separators.
pub fn fmt_value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if unit == "GB/s" {
        return format!("{v:.2}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

fn fmt_ratio(r: Option<&Ratio>, rounds: usize) -> String {
    match r {
        None => "-".into(),
        Some(r) if rounds < 2 => format!("{:.2}", r.median),
        Some(r) => {
            let lo = r.per_round.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = r
                .per_round
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            format!("{:.2} ({lo:.2}-{hi:.2})", r.median)
        }
    }
}

pub fn table(r: &Report) -> String {
    let m = &r.meta;
    let mut out = String::new();
    let drivers: Vec<String> = m
        .peer_drivers
        .iter()
        .map(|d| format!("{} on {}", d.runtime, d.driver))
        .collect();
    let _ = writeln!(
        out,
        "asock bench: asock {}, {}, {} ({} x {}), asock backend {}{}{}",
        m.asock_version,
        m.date,
        m.kernel.split(' ').take(2).collect::<Vec<_>>().join(" "),
        m.cpu_count,
        m.cpu_model,
        m.backend,
        if drivers.is_empty() { "" } else { "; " },
        drivers.join(", ")
    );
    let _ = writeln!(
        out,
        "{} round(s) of {:.1} s per system, interleaved, {:.0} s in all. Median over the rounds, min-max beside it;\n\
         ratios are the median of the per-round ratios (with their min-max), above 1.00 = the row beats the column's system.\n\
         CPU/op: process CPU (user+system, all threads) in the system's timed window per operation; the idle process used {:.1} % of a core.",
        m.rounds, m.seconds_per_run, m.total_seconds, m.idle_cpu_percent
    );
    for s in &r.scenarios {
        let per_op = if s.op == "-" {
            String::new()
        } else {
            format!("; CPU and allocations per {}", s.op)
        };
        let direction = if s.higher_is_better {
            ""
        } else {
            ", lower is better"
        };
        let _ = writeln!(
            out,
            "\n{}  {}\n    [{}{direction}{per_op}]",
            s.id, s.title, s.unit
        );
        let mut header = format!(
            "  {:<26} {:>11} {:>23} {:>10} {:>10}",
            "system", "median", "min-max", "CPU µs/op", "allocs/op"
        );
        if s.counts_server_errors {
            let _ = write!(header, " {:>8}", "errors");
        }
        for reference in &s.references {
            let _ = write!(header, "  {:>20}", format!("x {reference}"));
        }
        let _ = writeln!(out, "{header}");
        for y in &s.systems {
            let spread = format!("{}-{}", fmt_value(y.min, s.unit), fmt_value(y.max, s.unit));
            let mut line = format!(
                "  {:<26} {:>11} {:>23} {:>10} {:>10}",
                y.name,
                fmt_value(y.median, s.unit),
                spread,
                fmt_opt(y.cpu_us_per_op, 2),
                fmt_opt(y.allocations_per_op, 2)
            );
            if s.counts_server_errors {
                let _ = write!(line, " {:>8}", y.server_errors);
            }
            for reference in &s.references {
                let _ = write!(
                    line,
                    "  {:>20}",
                    fmt_ratio(y.ratios.get(reference), m.rounds)
                );
            }
            let _ = writeln!(out, "{line}");
        }
        let clients: Vec<String> = s
            .systems
            .iter()
            .filter_map(|y| {
                let share = median(
                    &y.samples
                        .iter()
                        .filter_map(|x| Some(x.client_cpu_seconds? / x.seconds))
                        .collect::<Vec<_>>(),
                );
                finite(share).map(|share| format!("{} {:.0} %", y.name, 100.0 * share))
            })
            .collect();
        if !clients.is_empty() {
            let _ = writeln!(
                out,
                "    load client thread's CPU, in % of a core: {}",
                clients.join(", ")
            );
        }
        for y in s.systems.iter().filter(|y| y.server_errors > 0) {
            let _ = writeln!(
                out,
                "    {}: {} server error(s), the first: {}",
                y.name,
                y.server_errors,
                y.first_server_error.as_deref().unwrap_or("?")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_values() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(fmt_value(1234567.4, "round trips/s"), "1,234,567");
        assert_eq!(fmt_value(999.0, "round trips/s"), "999");
        assert_eq!(fmt_value(2.345, "GB/s"), "2.35");
    }
}
