//! `report.json` and [`Summary`]: the run in numbers for scripts — status, baseline and final
//! scores per split, each generation's proposals with their decisions, the ablation effects and
//! the cost. `selfharness runs` and `selfharness show` print it. Built from [`RunData`] alone.

use super::{html::edit_text, rate, Ablation, Cost, RunData};
use crate::{RunConfig, SplitScore};
use selfharness_core::stats::{wilson, Z95};
use selfharness_core::task::Split;
use selfharness_validator::Decision;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub passed: u32,
    pub total: u32,
    pub rate: f64,
    /// 95 % Wilson interval of the rate.
    pub ci95: [f64; 2],
}

impl From<&SplitScore> for Score {
    fn from(s: &SplitScore) -> Score {
        let (lo, hi) = wilson(u64::from(s.passed), u64::from(s.total), Z95);
        Score {
            passed: s.passed,
            total: s.total,
            rate: rate(s),
            ci95: [lo, hi],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarnessScores {
    pub harness_id: String,
    pub validation: Option<Score>,
    /// Only after the run finished: the test split is sealed until then.
    pub test: Option<Score>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalSummary {
    pub id: String,
    pub strategy: String,
    pub edits: Vec<String>,
    pub rationale: String,
    pub targets: Vec<String>,
    /// `None`: never validated (budget stop, or the run was killed).
    pub decision: Option<Decision>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationSummary {
    pub generation: u32,
    /// `advanced`, `kept` (no edit accepted) or `unfinished` (the log ends inside it).
    pub outcome: String,
    /// Champion at the start of the generation.
    pub champion: String,
    /// The champion it advanced to, if any.
    pub advanced_to: Option<String>,
    pub accepted: Vec<String>,
    pub weaknesses: usize,
    pub proposals: Vec<ProposalSummary>,
    /// Re-validation of a composition of several accepted edits.
    pub composition: Option<Decision>,
    /// The champion's validation score after this generation.
    pub validation: Option<Score>,
    pub cost: Cost,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `finished` or `incomplete`.
    pub status: String,
    pub model_id: String,
    pub config: Option<RunConfig>,
    pub stop_reason: Option<String>,
    pub baseline: HarnessScores,
    #[serde(rename = "final")]
    pub final_: HarnessScores,
    pub generations: Vec<GenerationSummary>,
    pub ablations: Vec<Ablation>,
    /// Evaluations of the final scoring and the ablation.
    pub closing_cost: Cost,
    pub cost: Cost,
    /// Tokens priced at the run's `price_per_mtok`; `None` without a price.
    pub dollars: Option<f64>,
}

impl Summary {
    pub fn of(d: &RunData) -> Summary {
        let scores = |id: String| HarnessScores {
            validation: d.validation_score(&id).as_ref().map(Score::from),
            test: d.scored(&id, Split::Test).map(Score::from),
            harness_id: id,
        };
        let curve = d.validation_curve();
        let generations = d
            .generations
            .iter()
            .enumerate()
            .map(|(i, g)| GenerationSummary {
                generation: g.number,
                outcome: match (&g.advanced, g.no_advance) {
                    (Some(_), _) => "advanced",
                    (None, true) => "kept",
                    (None, false) => "unfinished",
                }
                .into(),
                champion: g.champion.clone(),
                advanced_to: g.advanced.as_ref().map(|a| a.0.id()),
                accepted: g.advanced.as_ref().map(|a| a.1.clone()).unwrap_or_default(),
                weaknesses: g.weaknesses.len(),
                proposals: g
                    .proposals
                    .iter()
                    .map(|p| ProposalSummary {
                        id: p.id.clone(),
                        strategy: p.strategy.clone(),
                        edits: p.patch.edits.iter().map(edit_text).collect(),
                        rationale: p.patch.rationale.clone(),
                        targets: p.patch.targets.clone(),
                        decision: g.decisions.get(&p.id).cloned(),
                    })
                    .collect(),
                composition: g.composed.as_ref().and_then(|c| c.decision.clone()),
                validation: curve.get(i + 1).and_then(|c| c.1.as_ref()).map(Score::from),
                cost: g.cost,
            })
            .collect();
        let cost = d.total_cost();
        let price = d.config.as_ref().map_or(0.0, |c| c.price_per_mtok);
        Summary {
            status: if d.is_finished() {
                "finished"
            } else {
                "incomplete"
            }
            .into(),
            model_id: d.model_id.clone(),
            config: d.config.clone(),
            stop_reason: d.stopped.clone(),
            baseline: scores(d.baseline_id()),
            final_: scores(d.final_id()),
            generations,
            ablations: d.ablations.clone(),
            closing_cost: d.closing_cost,
            cost,
            dollars: (price > 0.0).then(|| cost.tokens as f64 / 1e6 * price),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn the_summary_has_scores_decisions_ablations_and_cost() {
        let s = Summary::of(&fixture::data());
        assert_eq!(s.status, "finished");
        assert_eq!(s.baseline.validation.as_ref().unwrap().passed, 7);
        assert_eq!(s.final_.test.as_ref().unwrap().passed, 5);
        assert_eq!(s.generations.len(), 2);
        let g1 = &s.generations[0];
        assert_eq!(g1.accepted, vec!["p-a".to_string()]);
        assert!(g1.proposals[0].decision.as_ref().unwrap().accepted);
        assert!(!g1.proposals[1].decision.as_ref().unwrap().accepted);
        assert_eq!(g1.proposals[0].edits, vec!["set limits.max_turns = 20"]);
        assert_eq!(s.generations[1].advanced_to, None);
        assert_eq!(s.generations[0].outcome, "advanced");
        assert_eq!(s.generations[1].outcome, "kept");
        assert_eq!(s.ablations[0].proposal, "p-a");
        assert_eq!(s.cost.evaluations, 5);
        assert_eq!(s.closing_cost.evaluations, 2);
        assert_eq!(s.cost.tokens, 550);
        let v = serde_json::to_value(&s).unwrap();
        assert!(v["final"]["validation"]["rate"].as_f64().unwrap() > 0.4);
    }

    #[test]
    fn an_unfinished_run_is_incomplete_and_scores_its_baseline_from_evaluations() {
        // Cut the log before the stop: no scored events, baseline counted from evaluations.
        let events = fixture::events();
        let stop = events
            .iter()
            .position(|e| matches!(e, crate::RunEvent::Stopped { .. }))
            .unwrap();
        let s = Summary::of(&RunData::from_events(events[..stop].to_vec()));
        assert_eq!(s.status, "incomplete");
        assert!(s.baseline.test.is_none() && s.final_.test.is_none());
        // e-2: the baseline on task-v (a task candidates ran on), failed.
        let b = s.baseline.validation.unwrap();
        assert_eq!((b.passed, b.total), (0, 1));
        assert_eq!(s.final_.validation.unwrap().passed, 13);
    }
}
