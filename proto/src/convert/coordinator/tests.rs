use super::*;
use selfharness_coordinator::report::RunData;
use selfharness_coordinator::{ProposalRecord, SplitScore};
use selfharness_core::eval::{EvalStatus, Evaluation};
use selfharness_core::model::Usage;
use selfharness_core::patch::{Edit, HarnessPatch, Op};
use selfharness_core::task::Split;

fn decision(accepted: bool) -> Decision {
    Decision {
        accepted,
        p_value: 0.001,
        b: 9,
        c: 1,
        pairs_evaluated: 40,
        pairs_planned: 256,
        regressions: vec!["task-x".into()],
        reason: "b ≫ c".into(),
    }
}

fn evaluated(key: &str, harness: &str, passed: bool) -> RunEvent {
    RunEvent::Evaluated {
        evaluation: Evaluation {
            key: key.into(),
            task_id: "task-v".into(),
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
            turns: 3,
            usage: Usage {
                prompt_tokens: 100,
                completion_tokens: 10,
            },
            wall_ms: 50,
            trace: Some(format!("{key}.json")),
            error: None,
        },
    }
}

/// A one-generation run that accepts `p-a` and finishes.
fn events() -> Vec<RunEvent> {
    let baseline = Harness::builtin_default();
    let mut champion = baseline.clone();
    champion.limits.max_turns = 20;
    champion.parent = Some(baseline.id());
    champion.generation = 1;
    let patch = HarnessPatch {
        rationale: "fewer turns".into(),
        targets: vec!["w-1".into()],
        edits: vec![Edit {
            op: Op::Set,
            path: "limits.max_turns".into(),
            value: Some(serde_json::json!(20)),
        }],
    };
    let score = |h: &Harness, split, passed| SplitScore {
        harness_id: h.id(),
        split,
        passed,
        total: 4,
    };
    vec![
        RunEvent::RunStarted {
            config: RunConfig {
                price_per_mtok: 2.0,
                ..RunConfig::default()
            },
            baseline: baseline.clone(),
            model_id: "m".into(),
        },
        RunEvent::GenerationStarted {
            generation: 1,
            champion: baseline.id(),
        },
        RunEvent::Mined {
            generation: 1,
            weaknesses: vec![],
        },
        RunEvent::Proposed {
            generation: 1,
            proposals: vec![ProposalRecord {
                id: "p-a".into(),
                harness_id: champion.id(),
                patch,
                strategy: "catalogue".into(),
            }],
            rejected: vec![],
        },
        evaluated("e-1", &baseline.id(), false),
        evaluated("e-2", &champion.id(), true),
        RunEvent::Decided {
            generation: 1,
            proposal: "p-a".into(),
            decision: decision(true),
        },
        RunEvent::Advanced {
            generation: 1,
            champion: champion.clone(),
            accepted: vec!["p-a".into()],
            validation: score(&champion, Split::Validation, 3),
        },
        RunEvent::Stopped {
            reason: "generations".into(),
        },
        RunEvent::Scored {
            score: score(&champion, Split::Test, 2),
        },
        RunEvent::Ablated {
            proposal: "p-a".into(),
            without: baseline.id(),
            effect: 0.25,
        },
        RunEvent::Finished {
            champion: champion.id(),
            reason: "generations".into(),
            evaluations: 2,
            tokens: 220,
        },
    ]
}

#[test]
fn every_run_event_round_trips_with_its_type_and_seq() {
    for (i, e) in events().iter().enumerate() {
        let p = run_event("run-1", i as u64 + 1, e);
        assert_eq!((p.seq, p.run_id.as_str()), (i as u64 + 1, "run-1"));
        assert!(
            p.json.contains(&format!("\"type\":\"{}\"", p.event_type)),
            "{}",
            p.json
        );
        assert!(!p.json.contains('\n'), "one line of events.jsonl");
        assert_eq!(&RunEvent::from_proto(&p).unwrap(), e);
    }
}

#[test]
fn a_run_event_whose_type_disagrees_is_refused() {
    let mut p = run_event("r", 1, &RunEvent::NoAdvance { generation: 2 });
    assert_eq!(p.event_type, "no_advance");
    p.event_type = "finished".into();
    let err = RunEvent::from_proto(&p).unwrap_err().to_string();
    assert!(err.starts_with("RunEvent: field `event_type`: "), "{err}");
    p.event_type = "no_advance".into();
    p.seq = 0;
    assert!(RunEvent::from_proto(&p).is_err());
    p.seq = 1;
    p.json = "{\"type\":\"teleported\"}".into();
    let err = RunEvent::from_proto(&p).unwrap_err().to_string();
    assert!(
        err.starts_with("RunEvent: field `json`: not a run event"),
        "{err}"
    );
}

#[test]
fn a_run_summary_round_trips_through_run() {
    let summary = Summary::of(&RunData::from_events(events()));
    assert_eq!(summary.status, "finished");
    assert_eq!(summary.generations.len(), 1);
    assert!(summary.dollars.is_some());
    let p = run("run-1", v1::RunStatus::Finished, 12, &summary);
    assert_eq!((p.run_id.as_str(), p.last_seq), ("run-1", 12));
    assert_eq!(p.generations[0].outcome, "advanced");
    let back = Summary::from_proto(&p).unwrap();
    assert_eq!(back, summary);
    // Only a finished run is `finished`; running and cancelled ones are incomplete.
    let running = run("run-1", v1::RunStatus::Running, 12, &summary);
    assert_eq!(Summary::from_proto(&running).unwrap().status, "incomplete");
}

#[test]
fn a_bad_generation_inside_a_run_is_named_by_its_path() {
    let summary = Summary::of(&RunData::from_events(events()));
    let mut p = run("r", v1::RunStatus::Finished, 1, &summary);
    p.generations[0].validation.as_mut().unwrap().passed = 99;
    let err = Summary::from_proto(&p).unwrap_err().to_string();
    assert_eq!(
        err,
        "Run: field `generations[0].validation.passed`: 99 exceeds total 4"
    );
}

#[test]
fn a_run_config_round_trips_and_an_unset_one_is_refused() {
    let cfg = RunConfig {
        seed: 3,
        max_dollars: 1.5,
        ..RunConfig::default()
    };
    assert_eq!(RunConfig::from_proto(&cfg.to_proto()).unwrap(), cfg);
    let err = RunConfig::from_proto(&v1::RunConfig::default())
        .unwrap_err()
        .to_string();
    assert_eq!(err, "RunConfig: field `alpha`: 0 is not in (0, 1]");
    let d = decision(false);
    assert_eq!(Decision::from_proto(&d.to_proto()).unwrap(), d);
}

#[test]
fn create_run_defaults_the_baseline_and_needs_a_config() {
    let req = CreateRun {
        config: RunConfig::default(),
        baseline: Harness::builtin_oracle(),
        policy: Policy::default(),
    };
    assert_eq!(CreateRun::from_proto(&req.to_proto()).unwrap(), req);
    let mut p = req.to_proto();
    p.baseline = None;
    assert_eq!(
        CreateRun::from_proto(&p).unwrap().baseline,
        Harness::builtin_default()
    );
    p.config = None;
    let err = CreateRun::from_proto(&p).unwrap_err().to_string();
    assert_eq!(err, "CreateRunRequest: field `config`: missing");
}
