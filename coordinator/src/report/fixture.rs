//! A small two-generation run as events, for the report's unit tests: generation 1 accepts
//! `p-a` and rejects `p-b`; generation 2 rejects `p-c` and advances nothing. Names carry HTML
//! metacharacters so escaping is exercised everywhere.

use crate::{ProposalRecord, RunConfig, RunEvent, SplitScore};
use selfharness_core::eval::{EvalStatus, Evaluation};
use selfharness_core::harness::Harness;
use selfharness_core::model::Usage;
use selfharness_core::patch::{Edit, HarnessPatch, Op};
use selfharness_core::task::Split;
use selfharness_miner::{Evidence, Weakness};
use selfharness_validator::Decision;

pub const NASTY: &str = "<script>alert(\"x\")</script> & 'co'";

pub fn baseline() -> Harness {
    Harness::builtin_default()
}

pub fn champion() -> Harness {
    let mut h = baseline();
    h.limits.max_turns = 20;
    h.parent = Some(baseline().id());
    h.generation = 1;
    h.name = "gen-1".into();
    h
}

pub fn evaluation(key: &str, harness: &str, task: &str, passed: bool) -> RunEvent {
    RunEvent::Evaluated {
        evaluation: Evaluation {
            key: key.into(),
            task_id: task.into(),
            harness_id: harness.into(),
            model_id: "m".into(),
            trial: 0,
            seed: 1,
            status: if passed {
                EvalStatus::Passed
            } else {
                EvalStatus::Failed
            },
            reward: Some(if passed { 1.0 } else { 0.0 }),
            end: None,
            turns: 2,
            usage: Usage {
                prompt_tokens: 100,
                completion_tokens: 10,
            },
            wall_ms: 500,
            trace: Some(format!("{key}.json")),
            error: None,
        },
    }
}

fn proposal(id: &str, harness_id: &str) -> ProposalRecord {
    ProposalRecord {
        id: id.into(),
        harness_id: harness_id.into(),
        patch: HarnessPatch {
            rationale: format!("because {NASTY}"),
            targets: vec!["w-1".into()],
            edits: vec![Edit {
                op: Op::Set,
                path: "limits.max_turns".into(),
                value: Some(serde_json::json!(20)),
            }],
        },
        strategy: "catalogue".into(),
    }
}

fn decision(accepted: bool, b: u32, c: u32, p: f64) -> Decision {
    Decision {
        accepted,
        p_value: p,
        b,
        c,
        pairs_evaluated: 8,
        pairs_planned: 16,
        regressions: vec![],
        reason: format!("because {NASTY}"),
    }
}

fn weakness() -> Weakness {
    Weakness {
        id: "w-1".into(),
        kind: "ignored_failure".into(),
        tool: "bash".into(),
        error: "<n> errors".into(),
        name: NASTY.into(),
        failures: 3,
        tasks: 2,
        position: 0.5,
        evidence: vec![Evidence {
            trace: "e-1".into(),
            task: "task-a".into(),
            step: 2,
            excerpt: "exit 1".into(),
        }],
    }
}

fn score(h: &str, split: Split, passed: u32, total: u32) -> SplitScore {
    SplitScore {
        harness_id: h.into(),
        split,
        passed,
        total,
    }
}

pub fn events() -> Vec<RunEvent> {
    let (b, c) = (baseline().id(), champion().id());
    vec![
        RunEvent::RunStarted {
            config: RunConfig::default(),
            baseline: baseline(),
            model_id: "scripted/default@1".into(),
        },
        RunEvent::GenerationStarted {
            generation: 1,
            champion: b.clone(),
        },
        evaluation("e-1", &b, "task-a", false),
        RunEvent::Mined {
            generation: 1,
            weaknesses: vec![weakness()],
        },
        RunEvent::Proposed {
            generation: 1,
            proposals: vec![proposal("p-a", &c), proposal("p-b", "h-b")],
            rejected: vec![],
        },
        evaluation("e-2", &b, "task-v", false),
        evaluation("e-3", &c, "task-v", true),
        RunEvent::Decided {
            generation: 1,
            proposal: "p-a".into(),
            decision: decision(true, 6, 0, 0.0156),
        },
        RunEvent::Decided {
            generation: 1,
            proposal: "p-b".into(),
            decision: decision(false, 1, 2, 0.875),
        },
        RunEvent::Composed {
            generation: 1,
            harness_id: c.clone(),
            proposals: vec!["p-a".into()],
            decision: None,
        },
        RunEvent::Advanced {
            generation: 1,
            champion: champion(),
            accepted: vec!["p-a".into()],
            validation: score(&c, Split::Validation, 13, 32),
        },
        RunEvent::GenerationStarted {
            generation: 2,
            champion: c.clone(),
        },
        RunEvent::Mined {
            generation: 2,
            weaknesses: vec![],
        },
        RunEvent::Proposed {
            generation: 2,
            proposals: vec![proposal("p-c", "h-c")],
            rejected: vec![],
        },
        RunEvent::Decided {
            generation: 2,
            proposal: "p-c".into(),
            decision: decision(false, 0, 0, 1.0),
        },
        RunEvent::NoAdvance { generation: 2 },
        RunEvent::Stopped {
            reason: "max generations (2) reached".into(),
        },
        evaluation("e-4", &b, "task-t", false),
        evaluation("e-5", &c, "task-t", true),
        RunEvent::Scored {
            score: score(&b, Split::Validation, 7, 32),
        },
        RunEvent::Scored {
            score: score(&b, Split::Test, 3, 16),
        },
        RunEvent::Scored {
            score: score(&c, Split::Validation, 13, 32),
        },
        RunEvent::Scored {
            score: score(&c, Split::Test, 5, 16),
        },
        RunEvent::Ablated {
            proposal: "p-a".into(),
            without: b.clone(),
            effect: 0.1875,
        },
        RunEvent::Finished {
            champion: c,
            reason: "max generations (2) reached".into(),
            evaluations: 5,
            tokens: 550,
        },
    ]
}

pub fn data() -> super::RunData {
    super::RunData::from_events(events())
}
