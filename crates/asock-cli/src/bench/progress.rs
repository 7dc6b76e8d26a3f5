//! Progress on stderr: an indicatif bar with the elapsed time and an estimate of what is left
//! when stderr is a terminal; otherwise one plain line per round.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    rounds: usize,
    runs_per_round: usize,
}

impl Progress {
    pub fn new(rounds: usize, runs_per_round: usize) -> Progress {
        let total = (rounds * runs_per_round) as u64;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:20}] {pos}/{len} runs, about {eta} left  {wide_msg}",
            )
            .expect("a valid template")
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        if bar.is_none() {
            eprintln!(
                "asock bench: {rounds} round(s) of {runs_per_round} runs (one per system and scenario)"
            );
        }
        Progress {
            bar,
            started: Instant::now(),
            rounds,
            runs_per_round,
        }
    }

    /// A run starts: round `round` (from 1), scenario `id`, system `name`.
    pub fn start(&self, round: usize, id: &str, name: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{id} {name} (round {round}/{})", self.rounds));
        }
    }

    pub fn run_done(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Round `round` (from 1) is over.
    pub fn round_done(&self, round: usize) {
        if self.bar.is_some() {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = elapsed / round as f64 * (self.rounds - round) as f64;
        eprintln!(
            "asock bench: round {round}/{} done ({} runs), {elapsed:.0} s elapsed, about {left:.0} s left",
            self.rounds, self.runs_per_round
        );
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
