//! [`Metrics`]: the process's counters and gauges, rendered by hand in the Prometheus text
//! exposition format 0.0.4 (`GET /metrics`). Evaluation counters, tokens, cost, pass rates and
//! generations follow the events the [`crate::Hub`] is fed; the bus figures (queue depth,
//! redeliveries, dead letters) are set by whoever runs the bus.

use selfharness_coordinator::RunEvent;
use selfharness_core::eval::EvalStatus;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Counters and gauges of this process. Counters count events logged live here since the
/// process started (not those of past runs read from disk).
#[derive(Default)]
pub struct Metrics {
    /// Evaluations by status: passed, failed, error.
    evaluations: [AtomicU64; 3],
    /// Evaluations with a measured duration, and the sum of those durations.
    timed: AtomicU64,
    timed_ms: AtomicU64,
    tokens: AtomicU64,
    /// Nanodollars (tokens priced at each run's `price_per_mtok`): an integer sums exactly.
    nanodollars: AtomicU64,
    queue_depth: AtomicU64,
    redeliveries: AtomicU64,
    dead_letters: AtomicU64,
    /// Per-run gauges, by run id.
    runs: Mutex<BTreeMap<String, RunGauges>>,
}

#[derive(Default)]
struct RunGauges {
    generation: Option<u32>,
    /// Last pass rate seen per split (`advanced`: the new champion's validation; `scored`:
    /// the final scoring, where the champion comes after the baseline).
    pass_rate: BTreeMap<String, f64>,
}

const STATUSES: [(EvalStatus, &str); 3] = [
    (EvalStatus::Passed, "passed"),
    (EvalStatus::Failed, "failed"),
    (EvalStatus::Error, "error"),
];

impl Metrics {
    /// Count one event logged by run `run`, whose tokens cost `price_per_mtok` dollars per
    /// million. [`crate::Hub::logged`] calls this.
    pub fn observe(&self, run: &str, e: &RunEvent, price_per_mtok: f64) {
        match e {
            RunEvent::Evaluated { evaluation: ev } => {
                let i = STATUSES.iter().position(|s| s.0 == ev.status).unwrap_or(2);
                self.evaluations[i].fetch_add(1, Relaxed);
                if ev.wall_ms > 0 {
                    self.timed.fetch_add(1, Relaxed);
                    self.timed_ms.fetch_add(ev.wall_ms, Relaxed);
                }
                let tokens = ev.usage.prompt_tokens + ev.usage.completion_tokens;
                self.tokens.fetch_add(tokens, Relaxed);
                // $/Mtok × tokens = µ$, × 1000 = n$.
                let nano = (tokens as f64 * price_per_mtok * 1000.0).round() as u64;
                self.nanodollars.fetch_add(nano, Relaxed);
            }
            RunEvent::GenerationStarted { generation, .. } => {
                self.gauges(run, |g| g.generation = Some(*generation));
            }
            RunEvent::Advanced { validation: s, .. } | RunEvent::Scored { score: s } => {
                let rate = f64::from(s.passed) / f64::from(s.total.max(1));
                self.gauges(run, |g| {
                    g.pass_rate.insert(s.split.to_string(), rate);
                });
            }
            _ => {}
        }
    }

    fn gauges(&self, run: &str, f: impl FnOnce(&mut RunGauges)) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        f(runs.entry(run.to_string()).or_default());
    }

    /// Jobs waiting in the bus's work queue now.
    pub fn set_queue_depth(&self, jobs: u64) {
        self.queue_depth.store(jobs, Relaxed);
    }

    /// Jobs redelivered so far (a validator died or went silent); a total, never decreasing.
    pub fn set_redeliveries(&self, total: u64) {
        self.redeliveries.fetch_max(total, Relaxed);
    }

    pub fn add_redeliveries(&self, n: u64) {
        self.redeliveries.fetch_add(n, Relaxed);
    }

    /// Jobs that reached their maximum deliveries so far; a total, never decreasing.
    pub fn set_dead_letters(&self, total: u64) {
        self.dead_letters.fetch_max(total, Relaxed);
    }

    pub fn add_dead_letters(&self, n: u64) {
        self.dead_letters.fetch_add(n, Relaxed);
    }

    /// Every metric in the Prometheus text format 0.0.4, with HELP and TYPE lines.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // A sample is (what follows the name: labels or a `_sum`-like suffix, value).
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let plain = |v: String| vec![(String::new(), v)];
        let evals: Vec<(String, String)> = STATUSES
            .iter()
            .enumerate()
            .map(|(i, (_, s))| {
                (
                    labels(&[("status", s)]),
                    self.evaluations[i].load(Relaxed).to_string(),
                )
            })
            .collect();
        family("selfharness_evaluations_total", "counter", "Evaluations logged, by status (passed, failed, error: an infrastructure failure). Evaluations per second: rate(selfharness_evaluations_total[1m]).", &evals);
        let (sum, count) = (self.timed_ms.load(Relaxed), self.timed.load(Relaxed));
        family(
            "selfharness_evaluation_seconds",
            "summary",
            "Measured wall time of evaluations (those that recorded one).",
            &[
                ("_sum".into(), float(sum as f64 / 1000.0)),
                ("_count".into(), count.to_string()),
            ],
        );
        family(
            "selfharness_tokens_total",
            "counter",
            "Model tokens (prompt and completion) spent by logged evaluations.",
            &plain(self.tokens.load(Relaxed).to_string()),
        );
        family(
            "selfharness_cost_dollars_total",
            "counter",
            "Dollars spent: tokens priced at each run's price_per_mtok.",
            &plain(float(self.nanodollars.load(Relaxed) as f64 / 1e9)),
        );
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let rates: Vec<(String, String)> = runs
            .iter()
            .flat_map(|(run, g)| {
                g.pass_rate
                    .iter()
                    .map(move |(split, r)| (labels(&[("run", run), ("split", split)]), float(*r)))
            })
            .collect();
        family("selfharness_pass_rate", "gauge", "Latest pass rate of each run per split: the champion's validation score when it advanced, then the final scores.", &rates);
        let gens: Vec<(String, String)> = runs
            .iter()
            .filter_map(|(run, g)| Some((labels(&[("run", run)]), g.generation?.to_string())))
            .collect();
        family(
            "selfharness_generation",
            "gauge",
            "The generation each run is in (the last one it started).",
            &gens,
        );
        drop(runs);
        family(
            "selfharness_queue_depth",
            "gauge",
            "Evaluation jobs waiting in the bus's work queue.",
            &plain(self.queue_depth.load(Relaxed).to_string()),
        );
        family(
            "selfharness_redeliveries_total",
            "counter",
            "Evaluation jobs the bus redelivered (their validator died or went silent).",
            &plain(self.redeliveries.load(Relaxed).to_string()),
        );
        family(
            "selfharness_dead_letters_total",
            "counter",
            "Evaluation jobs that reached their maximum deliveries (recorded as infrastructure failures).",
            &plain(self.dead_letters.load(Relaxed).to_string()),
        );
        out
    }
}

/// `{a="x",b="y"}` with label values escaped.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: Go-style float text (`NaN`, `+Inf` never occur here).
fn float(x: f64) -> String {
    format!("{x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::tests::{evaluated, run_events, scored};
    use selfharness_core::task::Split;

    #[test]
    fn the_text_format_has_help_type_and_every_sample() {
        let m = Metrics::default();
        for e in run_events() {
            m.observe("run-1", &e, 2.0);
        }
        m.observe("run-1", &evaluated(9, EvalStatus::Error, 0, 0), 2.0);
        m.observe("run-1", &scored(Split::Test, 3, 4), 2.0);
        m.set_queue_depth(7);
        m.add_redeliveries(2);
        m.set_redeliveries(1); // a total below the count so far changes nothing
        m.set_dead_letters(1);
        let text = m.render();
        for line in [
            "# HELP selfharness_evaluations_total Evaluations logged, by status",
            "# TYPE selfharness_evaluations_total counter",
            "selfharness_evaluations_total{status=\"passed\"} 1\n",
            "selfharness_evaluations_total{status=\"failed\"} 1\n",
            "selfharness_evaluations_total{status=\"error\"} 1\n",
            "# TYPE selfharness_evaluation_seconds summary",
            // The error evaluation recorded no duration.
            "selfharness_evaluation_seconds_sum 2\n",
            "selfharness_evaluation_seconds_count 2\n",
            "selfharness_tokens_total 10\n",
            "selfharness_cost_dollars_total 0.00002\n",
            "selfharness_pass_rate{run=\"run-1\",split=\"validation\"} 0.5\n",
            "selfharness_pass_rate{run=\"run-1\",split=\"test\"} 0.75\n",
            "selfharness_generation{run=\"run-1\"} 1\n",
            "selfharness_queue_depth 7\n",
            "selfharness_redeliveries_total 2\n",
            "selfharness_dead_letters_total 1\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
        // Every sample line belongs to a family declared just before it.
        let mut declared = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared = rest.split(' ').next().unwrap().to_string();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&declared), "{line} outside its family");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            labels(&[("run", "a\"b\\c\nd")]),
            "{run=\"a\\\"b\\\\c\\nd\"}"
        );
    }
}
