//! The reports of a run — `report.md`, `report.html`, `report.json` and one page per trace the
//! report cites (`traces/<key>.html`) — built from the run directory alone, so they can be
//! regenerated from any run directory at any time (`selfharness report RUN`).
//!
//! Everything is rendered from [`RunData`], one fold of the event log. Only the trace pages read
//! anything else: the trace files under `traces/` of the same run directory.
//!
//! This module must never read anything outside the run directory, never write anything but the
//! report files and `traces/*.html`, never touch the event log, and never load anything from the
//! network when a report is opened: the HTML is self-contained (inline CSS, JS and SVG).
//!
//! # Layout
//! - `mod.rs` — [`RunData`] (the fold), [`load`], [`write`], HTML escaping.
//! - [`md`] — `report.md`.
//! - [`html`] — `report.html`: the page and its tables.
//! - [`svg`] — the pass-rate chart, the lineage graph and the ablation bars.
//! - [`diff`] — the side-by-side line diff of baseline vs final harness.
//! - [`json`] — `report.json` and [`Summary`], which `selfharness runs` and `show` print.
//! - [`trace_page`] — the readable page of one trace.

pub mod diff;
pub mod html;
pub mod json;
pub mod md;
pub mod svg;
pub mod trace_page;

pub use json::Summary;

use crate::{ProposalRecord, RunConfig, RunEvent, SplitScore};
use selfharness_core::eval::Evaluation;
use selfharness_core::harness::Harness;
use selfharness_core::task::Split;
use selfharness_miner::Weakness;
use selfharness_proposer::Rejection;
use selfharness_validator::Decision;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What evaluations cost: how many, tokens (prompt + completion), and evaluation time (the sum
/// of each evaluation's `wall_ms`; evaluations run in parallel, so this exceeds elapsed time).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cost {
    pub evaluations: u64,
    pub tokens: u64,
    pub eval_ms: u64,
}

impl Cost {
    fn add(&mut self, ev: &Evaluation) {
        self.evaluations += 1;
        self.tokens += ev.usage.prompt_tokens + ev.usage.completion_tokens;
        self.eval_ms += ev.wall_ms;
    }

    pub fn plus(self, o: Cost) -> Cost {
        Cost {
            evaluations: self.evaluations + o.evaluations,
            tokens: self.tokens + o.tokens,
            eval_ms: self.eval_ms + o.eval_ms,
        }
    }
}

/// The composition step of a generation (more than one accepted edit).
#[derive(Debug, Clone, PartialEq)]
pub struct Composition {
    pub harness_id: String,
    pub proposals: Vec<String>,
    /// The re-validation of the composition; `None` when a single edit needed none.
    pub decision: Option<Decision>,
}

/// One generation as the log tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generation {
    pub number: u32,
    /// Champion id at the start of the generation.
    pub champion: String,
    pub weaknesses: Vec<Weakness>,
    pub proposals: Vec<ProposalRecord>,
    /// Ideas the proposer dropped before validation (policy, already tried, …).
    pub rejected_ideas: Vec<Rejection>,
    /// Validation decision per proposal id; a proposal missing here was never validated
    /// (budget stop or a killed run).
    pub decisions: BTreeMap<String, Decision>,
    pub composed: Option<Composition>,
    /// The next champion, the proposals it is made of, and its validation score.
    pub advanced: Option<(Harness, Vec<String>, SplitScore)>,
    /// The generation ended with no edit accepted (the champion is kept).
    pub no_advance: bool,
    /// Stages that failed in this generation: (stage, error).
    pub stage_failures: Vec<(String, String)>,
    /// Evaluations logged while this generation ran.
    pub cost: Cost,
}

/// A finished run's closing numbers (the `finished` event).
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub champion: String,
    pub reason: String,
}

/// The measured effect of one accepted edit: final champion minus champion-without-it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ablation {
    pub proposal: String,
    pub without: String,
    /// Validation pass-rate difference (fraction, not percent points).
    pub effect: f64,
}

/// The outcome of one logged evaluation, as much as the reports need.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    harness_id: String,
    task_id: String,
    trial: u32,
    scored: bool,
    passed: bool,
    /// Logged before the stop; later ones include the unsealed test split.
    before_stop: bool,
}

/// Everything the reports show, folded from the event log in order.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    pub config: Option<RunConfig>,
    pub model_id: String,
    pub baseline: Option<Harness>,
    pub generations: Vec<Generation>,
    pub stopped: Option<String>,
    /// Final scores of baseline and champion (`scored` events), in log order.
    pub scores: Vec<SplitScore>,
    pub ablations: Vec<Ablation>,
    pub finished: Option<Finished>,
    /// Evaluations logged outside any generation: the final scoring and the ablation.
    pub closing_cost: Cost,
    /// Trace file name (relative to `traces/`) by evaluation key.
    pub trace_files: BTreeMap<String, String>,
    outcomes: BTreeMap<String, Outcome>,
}

impl RunData {
    pub fn from_events(events: impl IntoIterator<Item = RunEvent>) -> RunData {
        let mut d = RunData::default();
        for e in events {
            d.fold(e);
        }
        d
    }

    fn fold(&mut self, e: RunEvent) {
        // Events after the stop belong to no generation.
        let current = match self.stopped {
            None => self.generations.last_mut(),
            Some(_) => None,
        };
        match e {
            RunEvent::RunStarted {
                config,
                baseline,
                model_id,
            } => {
                self.config = Some(config);
                self.baseline = Some(baseline);
                self.model_id = model_id;
            }
            RunEvent::Evaluated { evaluation: ev } => {
                match current {
                    Some(g) => g.cost.add(&ev),
                    None => self.closing_cost.add(&ev),
                }
                if let Some(t) = &ev.trace {
                    self.trace_files.insert(ev.key.clone(), t.clone());
                }
                self.outcomes.insert(
                    ev.key.clone(),
                    Outcome {
                        harness_id: ev.harness_id.clone(),
                        task_id: ev.task_id.clone(),
                        trial: ev.trial,
                        scored: ev.reward.is_some(),
                        passed: ev.passed(),
                        before_stop: self.stopped.is_none(),
                    },
                );
            }
            RunEvent::GenerationStarted {
                generation,
                champion,
            } => self.generations.push(Generation {
                number: generation,
                champion,
                ..Generation::default()
            }),
            RunEvent::Mined { weaknesses, .. } => {
                if let Some(g) = current {
                    g.weaknesses = weaknesses;
                }
            }
            RunEvent::Proposed {
                proposals,
                rejected,
                ..
            } => {
                if let Some(g) = current {
                    g.proposals = proposals;
                    g.rejected_ideas = rejected;
                }
            }
            RunEvent::Decided {
                proposal, decision, ..
            } => {
                if let Some(g) = current {
                    g.decisions.insert(proposal, decision);
                }
            }
            RunEvent::Composed {
                harness_id,
                proposals,
                decision,
                ..
            } => {
                if let Some(g) = current {
                    g.composed = Some(Composition {
                        harness_id,
                        proposals,
                        decision,
                    });
                }
            }
            RunEvent::Advanced {
                champion,
                accepted,
                validation,
                ..
            } => {
                if let Some(g) = current {
                    g.advanced = Some((champion, accepted, validation));
                }
            }
            RunEvent::NoAdvance { .. } => {
                if let Some(g) = current {
                    g.no_advance = true;
                }
            }
            RunEvent::StageFailed { stage, error, .. } => {
                if let Some(g) = current {
                    g.stage_failures.push((stage, error));
                }
            }
            RunEvent::Stopped { reason } => self.stopped = Some(reason),
            RunEvent::Scored { score } => self.scores.push(score),
            RunEvent::Ablated {
                proposal,
                without,
                effect,
            } => self.ablations.push(Ablation {
                proposal,
                without,
                effect,
            }),
            RunEvent::Finished {
                champion, reason, ..
            } => self.finished = Some(Finished { champion, reason }),
        }
    }

    pub fn baseline_id(&self) -> String {
        self.baseline.as_ref().map(Harness::id).unwrap_or_default()
    }

    /// The final champion: the last one a generation advanced to, else the baseline.
    pub fn final_harness(&self) -> Option<&Harness> {
        self.generations
            .iter()
            .rev()
            .find_map(|g| g.advanced.as_ref().map(|a| &a.0))
            .or(self.baseline.as_ref())
    }

    pub fn final_id(&self) -> String {
        match &self.finished {
            Some(f) => f.champion.clone(),
            None => self.final_harness().map(Harness::id).unwrap_or_default(),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished.is_some()
    }

    /// Every proposal of the run, by id.
    pub fn proposal(&self, id: &str) -> Option<&ProposalRecord> {
        self.generations
            .iter()
            .flat_map(|g| &g.proposals)
            .find(|p| p.id == id)
    }

    pub fn total_cost(&self) -> Cost {
        self.generations
            .iter()
            .fold(self.closing_cost, |c, g| c.plus(g.cost))
    }

    /// A final `scored` event of `harness_id` on `split`.
    pub fn scored(&self, harness_id: &str, split: Split) -> Option<&SplitScore> {
        self.scores
            .iter()
            .find(|s| s.harness_id == harness_id && s.split == split)
    }

    /// The validation score of `harness_id`: the final `scored` event, else the score it
    /// advanced with, else counted from its logged evaluations on the validation tasks (the
    /// tasks candidates were evaluated on), so an unfinished run still shows its baseline.
    pub fn validation_score(&self, harness_id: &str) -> Option<SplitScore> {
        if let Some(s) = self.scored(harness_id, Split::Validation) {
            return Some(s.clone());
        }
        let advanced = self.generations.iter().filter_map(|g| g.advanced.as_ref());
        if let Some((_, _, s)) = advanced.clone().find(|a| a.0.id() == harness_id) {
            return Some(s.clone());
        }
        let candidates: BTreeSet<&str> = self
            .generations
            .iter()
            .flat_map(|g| {
                g.proposals
                    .iter()
                    .map(|p| p.harness_id.as_str())
                    .chain(g.composed.iter().map(|c| c.harness_id.as_str()))
            })
            .filter(|h| *h != harness_id)
            .collect();
        let tasks: BTreeSet<&str> = self
            .outcomes
            .values()
            .filter(|o| o.before_stop && candidates.contains(o.harness_id.as_str()))
            .map(|o| o.task_id.as_str())
            .collect();
        let trials = self.config.as_ref().map_or(u32::MAX, |c| c.val_trials);
        let mine: Vec<&Outcome> = self
            .outcomes
            .values()
            .filter(|o| o.before_stop && o.harness_id == harness_id && o.trial < trials)
            .filter(|o| tasks.contains(o.task_id.as_str()) && o.scored)
            .collect();
        if mine.is_empty() {
            return None;
        }
        Some(SplitScore {
            harness_id: harness_id.to_string(),
            split: Split::Validation,
            passed: mine.iter().filter(|o| o.passed).count() as u32,
            total: mine.len() as u32,
        })
    }

    /// Validation score of the champion after each generation (none for an unfinished one);
    /// index 0 is the baseline.
    pub fn validation_curve(&self) -> Vec<(u32, Option<SplitScore>)> {
        let mut out = vec![(0, self.validation_score(&self.baseline_id()))];
        for g in &self.generations {
            let s = match &g.advanced {
                Some((_, _, s)) => Some(s.clone()),
                None if g.no_advance => out.last().and_then(|(_, s)| s.clone()),
                // Not finished: no point.
                None => None,
            };
            out.push((g.number, s));
        }
        out
    }

    /// The file of trace `key` under the run's `traces/` (as its evaluation named it).
    pub fn trace_file(&self, key: &str) -> String {
        self.trace_files
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("{key}.json"))
    }

    /// Every trace the report cites as evidence: evaluation key → (generation, weakness id,
    /// step) citations.
    pub fn cited_traces(&self) -> BTreeMap<String, Vec<(u32, String, u32)>> {
        let mut out: BTreeMap<String, Vec<(u32, String, u32)>> = BTreeMap::new();
        for g in &self.generations {
            for w in &g.weaknesses {
                for e in &w.evidence {
                    out.entry(e.trace.clone())
                        .or_default()
                        .push((g.number, w.id.clone(), e.step));
                }
            }
        }
        out
    }
}

/// A pass rate as a fraction (0 for an empty score).
pub fn rate(s: &SplitScore) -> f64 {
    f64::from(s.passed) / f64::from(s.total.max(1))
}

/// Escape text for HTML (element content and quoted attribute values alike).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A file name safe to join under `traces/` and to put in a URL: no separators, no `..`.
pub fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Read the event log; a line that does not parse (a torn last line) is skipped.
pub fn load(log: &Path) -> std::io::Result<RunData> {
    let text = std::fs::read_to_string(log)?;
    Ok(RunData::from_events(
        text.lines().filter_map(|l| serde_json::from_str(l).ok()),
    ))
}

/// Write `report.md`, `report.html`, `report.json` and the cited traces' pages into `dir`,
/// from the event log at `log`.
pub fn write(dir: &Path, log: &Path) -> std::io::Result<()> {
    write_data(dir, &load(log)?)
}

/// [`write`] from a log already folded into `data`.
pub fn write_data(dir: &Path, data: &RunData) -> std::io::Result<()> {
    std::fs::write(dir.join("report.md"), md::render(data))?;
    let pages = trace_page::write_all(dir, data)?;
    std::fs::write(dir.join("report.html"), html::render(data, &pages))?;
    let json = serde_json::to_string_pretty(&Summary::of(data)).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("report.json"), json + "\n")
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests {
    use super::*;
    use selfharness_core::trace::{EndReason, Step, Trace};

    #[test]
    fn escaping_covers_every_html_metacharacter() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(esc("plain ü"), "plain ü");
    }

    #[test]
    fn only_plain_file_names_are_safe() {
        assert!(safe_name("e-0123abcd.json"));
        for bad in ["", "../x.json", "a/b", ".hidden", "x y", "a\\b"] {
            assert!(!safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn evaluations_are_costed_to_their_generation_or_to_the_closing() {
        let d = fixture::data();
        let per: Vec<u64> = d.generations.iter().map(|g| g.cost.evaluations).collect();
        assert_eq!(per, vec![3, 0]);
        assert_eq!(d.closing_cost.evaluations, 2);
        assert_eq!(d.total_cost().tokens, 550);
        assert_eq!(d.total_cost().eval_ms, 2500);
    }

    #[test]
    fn the_curve_starts_at_the_baseline_and_carries_a_generation_without_advance() {
        let c = fixture::data().validation_curve();
        let passed: Vec<Option<u32>> = c
            .iter()
            .map(|(_, s)| s.as_ref().map(|s| s.passed))
            .collect();
        assert_eq!(passed, vec![Some(7), Some(13), Some(13)]);
        assert_eq!(fixture::data().final_id(), fixture::champion().id());
        // Killed inside generation 2: it has no point yet.
        let events = fixture::events();
        let cut = events
            .iter()
            .position(|e| matches!(e, RunEvent::NoAdvance { .. }))
            .unwrap();
        let c = RunData::from_events(events[..cut].to_vec()).validation_curve();
        assert_eq!(c.len(), 3);
        assert!(c[1].1.is_some() && c[2].1.is_none());
    }

    #[test]
    fn write_renders_every_report_and_the_cited_trace_from_the_log_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut log: String = fixture::events()
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        log.push_str("{\"type\":\"evalu"); // a torn last line
        std::fs::write(dir.path().join("events.jsonl"), &log).unwrap();
        std::fs::create_dir(dir.path().join("traces")).unwrap();
        let trace = Trace {
            id: "e-1".into(),
            task_id: "task-a".into(),
            harness_id: fixture::baseline().id(),
            model_id: "m".into(),
            trial: 0,
            seed: 1,
            steps: vec![Step {
                turn: 2,
                tool: Some("bash".into()),
                ..Step::default()
            }],
            end: EndReason::Done,
            end_detail: String::new(),
            reward: Some(0.0),
            verifier_output: String::new(),
            usage: Default::default(),
            wall_ms: 1,
        };
        std::fs::write(
            dir.path().join("traces/e-1.json"),
            serde_json::to_string(&trace).unwrap(),
        )
        .unwrap();
        write(dir.path(), &dir.path().join("events.jsonl")).unwrap();
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(html.contains("href=\"traces/e-1.html#step-2\""));
        let page = std::fs::read_to_string(dir.path().join("traces/e-1.html")).unwrap();
        assert!(page.contains("id=\"step-2\""));
        let json: Summary =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(json.generations.len(), 2);
        assert!(std::fs::read_to_string(dir.path().join("report.md"))
            .unwrap()
            .contains("## Lineage"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap(),
            log,
            "the log is never touched"
        );
    }
}
