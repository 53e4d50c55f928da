//! The run API's messages: RunConfig, Decision, the `report.json` summary as `Run` (with its
//! Generation, Score, Cost and Ablation parts), RunEvent (the event as one `events.jsonl` line,
//! see `coordinator.proto` for why), and CreateRunRequest ↔ [`CreateRun`]. This module only
//! translates: it never folds events into a summary (that is `selfharness_coordinator::report`).

use super::proposer::{policy, policy_toml};
use super::{count32, field, list, nested, non_empty, opt, required, FromProto, ToProto};
use crate::v1;
use crate::Result;
use selfharness_coordinator::report::json::{
    GenerationSummary, HarnessScores, ProposalSummary, Score, Summary,
};
use selfharness_coordinator::report::{Ablation, Cost};
use selfharness_coordinator::{RunConfig, RunEvent};
use selfharness_core::harness::Harness;
use selfharness_core::policy::Policy;
use selfharness_validator::Decision;

impl ToProto for RunConfig {
    type Proto = v1::RunConfig;
    fn to_proto(&self) -> v1::RunConfig {
        v1::RunConfig {
            seed: self.seed,
            generations: self.generations,
            k: count32(self.k),
            train_trials: self.train_trials,
            val_trials: self.val_trials,
            test_trials: self.test_trials,
            alpha: self.alpha,
            tolerance: self.tolerance,
            plateau: self.plateau,
            early_stop: self.early_stop,
            ablation: self.ablation,
            batch: count32(self.batch),
            max_evals: self.max_evals,
            max_tokens: self.max_tokens,
            max_wall_secs: self.max_wall_secs,
            max_dollars: self.max_dollars,
            price_per_mtok: self.price_per_mtok,
        }
    }
}

impl FromProto for RunConfig {
    type Proto = v1::RunConfig;
    /// Refuses what would make a run meaningless (α outside (0, 1], no proposals, empty
    /// batches, negative money) — typically a field the sender forgot to set.
    fn from_proto(p: &v1::RunConfig) -> Result<RunConfig> {
        const M: &str = "RunConfig";
        if !(p.alpha > 0.0 && p.alpha <= 1.0) {
            return Err(field(M, "alpha", format!("{} is not in (0, 1]", p.alpha)));
        }
        for (name, v) in [("k", p.k), ("batch", p.batch), ("val_trials", p.val_trials)] {
            if v == 0 {
                return Err(field(M, name, "must be at least 1"));
            }
        }
        for (name, v) in [
            ("max_dollars", p.max_dollars),
            ("price_per_mtok", p.price_per_mtok),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(field(M, name, format!("{v} is not a finite amount ≥ 0")));
            }
        }
        Ok(RunConfig {
            seed: p.seed,
            generations: p.generations,
            k: p.k as usize,
            train_trials: p.train_trials,
            val_trials: p.val_trials,
            test_trials: p.test_trials,
            alpha: p.alpha,
            tolerance: p.tolerance,
            plateau: p.plateau,
            early_stop: p.early_stop,
            ablation: p.ablation,
            batch: p.batch as usize,
            max_evals: p.max_evals,
            max_tokens: p.max_tokens,
            max_wall_secs: p.max_wall_secs,
            max_dollars: p.max_dollars,
            price_per_mtok: p.price_per_mtok,
        })
    }
}

impl ToProto for Decision {
    type Proto = v1::Decision;
    fn to_proto(&self) -> v1::Decision {
        v1::Decision {
            accepted: self.accepted,
            p_value: self.p_value,
            b: self.b,
            c: self.c,
            pairs_evaluated: self.pairs_evaluated as u64,
            pairs_planned: self.pairs_planned as u64,
            regressions: self.regressions.clone(),
            reason: self.reason.clone(),
        }
    }
}

impl FromProto for Decision {
    type Proto = v1::Decision;
    fn from_proto(p: &v1::Decision) -> Result<Decision> {
        const M: &str = "Decision";
        let size = |name: &'static str, v: u64| {
            usize::try_from(v).map_err(|_| field(M, name, "too large"))
        };
        Ok(Decision {
            accepted: p.accepted,
            p_value: p.p_value,
            b: p.b,
            c: p.c,
            pairs_evaluated: size("pairs_evaluated", p.pairs_evaluated)?,
            pairs_planned: size("pairs_planned", p.pairs_planned)?,
            regressions: p.regressions.clone(),
            reason: p.reason.clone(),
        })
    }
}

impl ToProto for Score {
    type Proto = v1::Score;
    fn to_proto(&self) -> v1::Score {
        v1::Score {
            passed: self.passed,
            total: self.total,
            rate: self.rate,
            ci95_low: self.ci95[0],
            ci95_high: self.ci95[1],
        }
    }
}

impl FromProto for Score {
    type Proto = v1::Score;
    fn from_proto(p: &v1::Score) -> Result<Score> {
        if p.passed > p.total {
            return Err(field(
                "Score",
                "passed",
                format!("{} exceeds total {}", p.passed, p.total),
            ));
        }
        Ok(Score {
            passed: p.passed,
            total: p.total,
            rate: p.rate,
            ci95: [p.ci95_low, p.ci95_high],
        })
    }
}

impl ToProto for Cost {
    type Proto = v1::Cost;
    fn to_proto(&self) -> v1::Cost {
        v1::Cost {
            evaluations: self.evaluations,
            tokens: self.tokens,
            eval_ms: self.eval_ms,
        }
    }
}

/// Cost is plain numbers: any message is valid, and an absent one is zero.
fn cost(p: &Option<v1::Cost>) -> Cost {
    let p = p.unwrap_or_default();
    Cost {
        evaluations: p.evaluations,
        tokens: p.tokens,
        eval_ms: p.eval_ms,
    }
}

impl ToProto for Ablation {
    type Proto = v1::Ablation;
    fn to_proto(&self) -> v1::Ablation {
        v1::Ablation {
            proposal: self.proposal.clone(),
            without: self.without.clone(),
            effect: self.effect,
        }
    }
}

impl FromProto for Ablation {
    type Proto = v1::Ablation;
    fn from_proto(p: &v1::Ablation) -> Result<Ablation> {
        non_empty("Ablation", "proposal", &p.proposal)?;
        Ok(Ablation {
            proposal: p.proposal.clone(),
            without: p.without.clone(),
            effect: p.effect,
        })
    }
}

/// An optional sub-message, decoded when present.
fn maybe<T: FromProto>(
    message: &'static str,
    name: &'static str,
    p: &Option<T::Proto>,
) -> Result<Option<T>> {
    p.as_ref().map(|p| nested(message, name, p)).transpose()
}

impl ToProto for HarnessScores {
    type Proto = v1::HarnessScores;
    fn to_proto(&self) -> v1::HarnessScores {
        v1::HarnessScores {
            harness_id: self.harness_id.clone(),
            validation: self.validation.as_ref().map(ToProto::to_proto),
            test: self.test.as_ref().map(ToProto::to_proto),
        }
    }
}

impl FromProto for HarnessScores {
    type Proto = v1::HarnessScores;
    fn from_proto(p: &v1::HarnessScores) -> Result<HarnessScores> {
        const M: &str = "HarnessScores";
        Ok(HarnessScores {
            harness_id: p.harness_id.clone(),
            validation: maybe(M, "validation", &p.validation)?,
            test: maybe(M, "test", &p.test)?,
        })
    }
}

impl ToProto for ProposalSummary {
    type Proto = v1::ProposalSummary;
    fn to_proto(&self) -> v1::ProposalSummary {
        v1::ProposalSummary {
            id: self.id.clone(),
            strategy: self.strategy.clone(),
            edits: self.edits.clone(),
            rationale: self.rationale.clone(),
            targets: self.targets.clone(),
            decision: self.decision.as_ref().map(ToProto::to_proto),
        }
    }
}

impl FromProto for ProposalSummary {
    type Proto = v1::ProposalSummary;
    fn from_proto(p: &v1::ProposalSummary) -> Result<ProposalSummary> {
        const M: &str = "ProposalSummary";
        non_empty(M, "id", &p.id)?;
        Ok(ProposalSummary {
            id: p.id.clone(),
            strategy: p.strategy.clone(),
            edits: p.edits.clone(),
            rationale: p.rationale.clone(),
            targets: p.targets.clone(),
            decision: maybe(M, "decision", &p.decision)?,
        })
    }
}

impl ToProto for GenerationSummary {
    type Proto = v1::Generation;
    fn to_proto(&self) -> v1::Generation {
        v1::Generation {
            generation: self.generation,
            outcome: self.outcome.clone(),
            champion: self.champion.clone(),
            advanced_to: self.advanced_to.clone().unwrap_or_default(),
            accepted: self.accepted.clone(),
            weaknesses: count32(self.weaknesses),
            proposals: self.proposals.iter().map(ToProto::to_proto).collect(),
            composition: self.composition.as_ref().map(ToProto::to_proto),
            validation: self.validation.as_ref().map(ToProto::to_proto),
            cost: Some(self.cost.to_proto()),
        }
    }
}

impl FromProto for GenerationSummary {
    type Proto = v1::Generation;
    fn from_proto(p: &v1::Generation) -> Result<GenerationSummary> {
        const M: &str = "Generation";
        Ok(GenerationSummary {
            generation: p.generation,
            outcome: p.outcome.clone(),
            champion: p.champion.clone(),
            advanced_to: opt(&p.advanced_to),
            accepted: p.accepted.clone(),
            weaknesses: p.weaknesses as usize,
            proposals: list(M, "proposals", &p.proposals)?,
            composition: maybe(M, "composition", &p.composition)?,
            validation: maybe(M, "validation", &p.validation)?,
            cost: cost(&p.cost),
        })
    }
}

/// A run as the run API shows it: the `report.json` summary with its id, its status (which the
/// summary alone cannot tell: running and cancelled look incomplete) and the last event folded.
pub fn run(run_id: &str, status: v1::RunStatus, last_seq: u64, s: &Summary) -> v1::Run {
    v1::Run {
        run_id: run_id.to_string(),
        status: status as i32,
        model_id: s.model_id.clone(),
        config: s.config.as_ref().map(ToProto::to_proto),
        stop_reason: s.stop_reason.clone().unwrap_or_default(),
        baseline: Some(s.baseline.to_proto()),
        champion: Some(s.final_.to_proto()),
        generations: s.generations.iter().map(ToProto::to_proto).collect(),
        ablations: s.ablations.iter().map(ToProto::to_proto).collect(),
        closing_cost: Some(s.closing_cost.to_proto()),
        cost: Some(s.cost.to_proto()),
        dollars: s.dollars,
        last_seq,
    }
}

impl FromProto for Summary {
    type Proto = v1::Run;
    /// The summary of a `Run` (its status becomes `finished` or `incomplete`).
    fn from_proto(p: &v1::Run) -> Result<Summary> {
        const M: &str = "Run";
        let status = v1::RunStatus::try_from(p.status)
            .map_err(|_| field(M, "status", format!("unknown value {}", p.status)))?;
        let scores = |name: &'static str, s: &Option<v1::HarnessScores>| -> Result<_> {
            Ok(maybe(M, name, s)?.unwrap_or(HarnessScores {
                harness_id: String::new(),
                validation: None,
                test: None,
            }))
        };
        Ok(Summary {
            status: if status == v1::RunStatus::Finished {
                "finished"
            } else {
                "incomplete"
            }
            .into(),
            model_id: p.model_id.clone(),
            config: maybe(M, "config", &p.config)?,
            stop_reason: opt(&p.stop_reason),
            baseline: scores("baseline", &p.baseline)?,
            final_: scores("champion", &p.champion)?,
            generations: list(M, "generations", &p.generations)?,
            ablations: list(M, "ablations", &p.ablations)?,
            closing_cost: cost(&p.closing_cost),
            cost: cost(&p.cost),
            dollars: p.dollars,
        })
    }
}

/// Event `seq` of run `run_id`: its `type` tag, and the event as one `events.jsonl` line.
pub fn run_event(run_id: &str, seq: u64, e: &RunEvent) -> v1::RunEvent {
    // The JSON exactly as `events.jsonl` holds it (field order included), so a log rebuilt from
    // the events is byte for byte the coordinator's.
    let json = serde_json::to_string(e).expect("a run event serialises");
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    v1::RunEvent {
        seq,
        event_type: value["type"].as_str().unwrap_or_default().to_string(),
        json,
        run_id: run_id.to_string(),
    }
}

impl FromProto for RunEvent {
    type Proto = v1::RunEvent;
    fn from_proto(p: &v1::RunEvent) -> Result<RunEvent> {
        const M: &str = "RunEvent";
        if p.seq == 0 {
            return Err(field(M, "seq", "must be at least 1"));
        }
        let e: RunEvent = serde_json::from_str(&p.json)
            .map_err(|err| field(M, "json", format!("not a run event: {err}")))?;
        let tag = serde_json::to_value(&e).expect("a run event serialises")["type"].clone();
        if tag.as_str() != Some(p.event_type.as_str()) {
            return Err(field(
                M,
                "event_type",
                format!(
                    "{:?} disagrees with the event's own type {tag}",
                    p.event_type
                ),
            ));
        }
        Ok(e)
    }
}

/// What CreateRun asks for, decoded, with the contract's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRun {
    pub config: RunConfig,
    /// The built-in default harness when the request names none.
    pub baseline: Harness,
    /// As sent; the coordinator adds its suite's forbidden content.
    pub policy: Policy,
}

impl ToProto for CreateRun {
    type Proto = v1::CreateRunRequest;
    fn to_proto(&self) -> v1::CreateRunRequest {
        v1::CreateRunRequest {
            config: Some(self.config.to_proto()),
            baseline: Some(self.baseline.to_proto()),
            policy_toml: policy_toml(&self.policy),
        }
    }
}

impl FromProto for CreateRun {
    type Proto = v1::CreateRunRequest;
    fn from_proto(p: &v1::CreateRunRequest) -> Result<CreateRun> {
        const M: &str = "CreateRunRequest";
        Ok(CreateRun {
            config: nested(M, "config", required(M, "config", &p.config)?)?,
            baseline: maybe(M, "baseline", &p.baseline)?.unwrap_or_else(Harness::builtin_default),
            policy: policy(M, "policy_toml", &p.policy_toml)?,
        })
    }
}

#[cfg(test)]
mod tests;
