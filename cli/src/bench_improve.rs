//! `selfharness bench improve`: runs the whole loop on the scripted testbed for every
//! (flaw profile, seed) and scores the optimiser against what was planted — lift recovered on
//! the sealed test split, mining recall of the planted flaw kinds, false accepts by ablation, and
//! evaluations saved by early stopping. The scoring is a pure fold over each run's event log
//! ([`score_run`]); this module never feeds anything back into a run.

use crate::eval_cmd::{load_suite, utc_stamp};
use crate::run_cmd::LocalBackend;
use anyhow::{Context, Result};
use clap::Args;
use selfharness_coordinator::{Coordinator, RunConfig, RunEvent};
use selfharness_core::eval::{evaluate_all, EvalDirs, EvalJob, Slots};
use selfharness_core::harness::Harness;
use selfharness_core::model::scripted::{FlawKind, FlawProfile, ScriptedModel};
use selfharness_core::policy::Policy;
use selfharness_core::task::{Split, Suite};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Targets of issue #4.
const LIFT_TARGET: f64 = 0.9;
const RECALL_TARGET: f64 = 0.9;
const FALSE_ACCEPT_TARGET: f64 = 0.05;
const SAVED_TARGET: f64 = 0.4;

#[derive(Args, Clone)]
pub struct ImproveArgs {
    #[arg(long, default_value = "tasks")]
    pub suite: PathBuf,
    /// Run seeds (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Flaw profiles (comma-separated TOML files); any profile with the same shape works.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "profiles/default.toml,profiles/sloppy.toml"
    )]
    pub profiles: Vec<PathBuf>,
    #[arg(long, default_value_t = 5)]
    pub generations: u32,
    #[arg(long, default_value_t = 4)]
    pub k: usize,
    #[arg(long, default_value_t = 4)]
    pub train_trials: u32,
    #[arg(long, default_value_t = 16)]
    pub val_trials: u32,
    #[arg(long, default_value_t = 8)]
    pub test_trials: u32,
    /// Evaluations at once, shared by every run in flight.
    #[arg(long, default_value_t = 48)]
    pub jobs: usize,
    /// Runs in flight at once (episodes mostly wait, so runs overlap well).
    #[arg(long, default_value_t = 3)]
    pub parallel: usize,
    /// Also run every combination with early stopping off and check the decisions match.
    #[arg(long)]
    pub check_decisions: bool,
    /// Where the runs go; default runs/bench-improve-<UTC time>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What one run scored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunScore {
    pub profile: String,
    pub seed: u64,
    pub baseline_test: f64,
    pub final_test: f64,
    pub oracle_test: f64,
    /// (final − baseline) / (oracle − baseline) on the sealed test split.
    pub lift: f64,
    pub planted: Vec<String>,
    pub surfaced: Vec<String>,
    pub recall: f64,
    /// Accepted edits in the final champion, and those whose ablation showed no gain.
    pub accepted: Vec<String>,
    pub no_gain: Vec<String>,
    pub pairs_planned: u64,
    pub pairs_evaluated: u64,
    pub saved: f64,
    /// (proposal or composition, accepted), in order: what early stopping must not change.
    pub decisions: Vec<(String, bool)>,
    pub champion: String,
    pub generations: u32,
    pub evaluations: u64,
    pub wall_secs: f64,
    /// With --check-decisions: whether the run without early stopping decided the same.
    pub same_decisions: Option<bool>,
}

/// The weakness kinds (miner signatures) by which each planted flaw shows in traces. This is
/// the testbed's answer key, used only to score a run.
pub fn flaw_of_weakness(kind: &str) -> Option<FlawKind> {
    Some(match kind {
        "ignored_failure" => FlawKind::IgnoreFailure,
        "unnamed_write_path" => FlawKind::TypoPath,
        "premature_done" => FlawKind::EarlyDone,
        "command_timeout" => FlawKind::Hang,
        "context_overflow" => FlawKind::Flood,
        "destructive_command" => FlawKind::Destructive,
        "malformed_reply" => FlawKind::MalformedReply,
        _ => return None,
    })
}

fn rate(passed: u32, total: u32) -> f64 {
    f64::from(passed) / f64::from(total.max(1))
}

/// Score one run from its events. `planted`: flaw kinds the profile plants (rate > 0); a
/// weakness is "top" when it is among the first `k` of a generation (what the proposer gets).
pub fn score_run(
    events: &[RunEvent],
    planted: &[FlawKind],
    k: usize,
    oracle_test: f64,
) -> RunScore {
    let mut s = RunScore {
        profile: String::new(),
        seed: 0,
        baseline_test: 0.0,
        final_test: 0.0,
        oracle_test,
        lift: 0.0,
        planted: planted.iter().map(|f| f.as_str().to_string()).collect(),
        surfaced: Vec::new(),
        recall: 0.0,
        accepted: Vec::new(),
        no_gain: Vec::new(),
        pairs_planned: 0,
        pairs_evaluated: 0,
        saved: 0.0,
        decisions: Vec::new(),
        champion: String::new(),
        generations: 0,
        evaluations: 0,
        wall_secs: 0.0,
        same_decisions: None,
    };
    let mut baseline_id = String::new();
    let mut champion_id = String::new();
    let mut surfaced = std::collections::BTreeSet::new();
    for e in events {
        match e {
            RunEvent::RunStarted {
                baseline, config, ..
            } => {
                baseline_id = baseline.id();
                s.seed = config.seed;
            }
            RunEvent::Evaluated { .. } => s.evaluations += 1,
            RunEvent::GenerationStarted { generation, .. } => s.generations = *generation,
            RunEvent::Mined { weaknesses, .. } => {
                for w in weaknesses.iter().take(k) {
                    if let Some(f) = flaw_of_weakness(&w.kind) {
                        surfaced.insert(f);
                    }
                }
            }
            RunEvent::Decided {
                proposal, decision, ..
            } => {
                s.pairs_planned += decision.pairs_planned as u64;
                s.pairs_evaluated += decision.pairs_evaluated as u64;
                s.decisions.push((proposal.clone(), decision.accepted));
            }
            RunEvent::Composed {
                harness_id,
                decision: Some(d),
                ..
            } => {
                s.pairs_planned += d.pairs_planned as u64;
                s.pairs_evaluated += d.pairs_evaluated as u64;
                s.decisions
                    .push((format!("composition {harness_id}"), d.accepted));
            }
            RunEvent::Advanced { accepted, .. } => s.accepted.extend(accepted.iter().cloned()),
            RunEvent::Scored { score } if score.split == Split::Test => {
                if score.harness_id == baseline_id {
                    s.baseline_test = rate(score.passed, score.total);
                }
                // The last test score is the final champion's (the baseline's comes first).
                s.final_test = rate(score.passed, score.total);
            }
            RunEvent::Ablated {
                proposal, effect, ..
            } if *effect <= 0.0 => s.no_gain.push(proposal.clone()),
            RunEvent::Finished { champion, .. } => champion_id = champion.clone(),
            _ => {}
        }
    }
    s.champion = champion_id;
    s.surfaced = planted
        .iter()
        .filter(|f| surfaced.contains(f))
        .map(|f| f.as_str().to_string())
        .collect();
    s.recall = s.surfaced.len() as f64 / planted.len().max(1) as f64;
    let room = s.oracle_test - s.baseline_test;
    s.lift = if room > 0.0 {
        (s.final_test - s.baseline_test) / room
    } else {
        0.0
    };
    s.saved = if s.pairs_planned > 0 {
        1.0 - s.pairs_evaluated as f64 / s.pairs_planned as f64
    } else {
        0.0
    };
    s
}

struct Combo {
    profile: FlawProfile,
    seed: u64,
}

fn run_dir(out: &Path, c: &Combo, full: bool) -> PathBuf {
    let tag = if full { "-full" } else { "" };
    out.join(format!("{}-s{}{tag}", c.profile.name, c.seed))
}

fn read_events(dir: &Path) -> Result<Vec<RunEvent>> {
    let path = dir.join("events.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}: line {}", path.display(), i + 1))
        })
        .collect()
}

fn run_one(
    args: &ImproveArgs,
    suite: &Suite,
    slots: &Arc<Slots>,
    out: &Path,
    c: &Combo,
    early_stop: bool,
) -> Result<(Vec<RunEvent>, f64)> {
    let model = Arc::new(ScriptedModel::new(suite, c.profile.clone()));
    let dir = run_dir(out, c, !early_stop);
    let backend = LocalBackend {
        model: model.clone(),
        dirs: EvalDirs {
            sandboxes: std::env::temp_dir().join("selfharness-sandboxes"),
            traces: dir.join("traces"),
        },
        slots: slots.clone(),
    };
    let cfg = RunConfig {
        seed: c.seed,
        generations: args.generations,
        k: args.k,
        train_trials: args.train_trials,
        val_trials: args.val_trials,
        test_trials: args.test_trials,
        early_stop,
        ..RunConfig::default()
    };
    let mut policy = Policy::default();
    policy.guard_suite(suite);
    let started = Instant::now();
    let mut coord = Coordinator::new(
        cfg,
        suite.clone(),
        policy,
        Harness::builtin_default(),
        &backend,
        dir.clone(),
    );
    coord
        .run()
        .with_context(|| format!("run {}", dir.display()))?;
    let wall = started.elapsed().as_secs_f64();
    Ok((read_events(&dir)?, wall))
}

/// The oracle harness on the sealed test split, same seed and trials: the ceiling of the lift.
fn oracle_test(args: &ImproveArgs, suite: &Suite, slots: &Slots, out: &Path, c: &Combo) -> f64 {
    let model = Arc::new(ScriptedModel::new(suite, c.profile.clone()));
    let oracle = Arc::new(Harness::builtin_oracle());
    let jobs: Vec<EvalJob> = suite
        .split(Split::Test)
        .into_iter()
        .flat_map(|t| {
            (0..args.test_trials).map(|trial| EvalJob {
                task: t.clone(),
                harness: oracle.clone(),
                trial,
                seed: c.seed,
            })
        })
        .collect();
    let dirs = EvalDirs {
        sandboxes: std::env::temp_dir().join("selfharness-sandboxes"),
        traces: run_dir(out, c, false).join("oracle-traces"),
    };
    let evs = evaluate_all(jobs, model, &dirs, slots, &|_| {});
    let passed = evs.iter().filter(|e| e.passed()).count() as u32;
    let total = evs.iter().filter(|e| e.reward.is_some()).count() as u32;
    rate(passed, total)
}

pub fn improve(args: ImproveArgs) -> Result<ExitCode> {
    let suite = load_suite(&args.suite, true)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("bench-improve-{}", utc_stamp())));
    let mut combos = Vec::new();
    for p in &args.profiles {
        let profile = FlawProfile::load(p)?;
        for &seed in &args.seeds {
            combos.push(Combo {
                profile: profile.clone(),
                seed,
            });
        }
    }
    eprintln!(
        "bench improve: {} runs ({} profiles × {} seeds), {} at once, {} evaluations at once; runs in {}",
        combos.len(),
        args.profiles.len(),
        args.seeds.len(),
        args.parallel.max(1),
        args.jobs,
        out.display()
    );
    let slots = Arc::new(Slots::new(args.jobs));
    let queue = Mutex::new(combos.iter().enumerate());
    let results: Mutex<Vec<Option<Result<RunScore>>>> =
        Mutex::new((0..combos.len()).map(|_| None).collect());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..args.parallel.max(1).min(combos.len().max(1)) {
            s.spawn(|| loop {
                let next = queue.lock().expect("queue").next();
                let Some((i, c)) = next else { break };
                let r = score_combo(&args, &suite, &slots, &out, c);
                match &r {
                    Ok(s) => eprintln!(
                        "  [{:>5.0}s] {} seed {}: lift {:.2}, recall {:.2}, no-gain {}/{}, saved {:.0} %",
                        started.elapsed().as_secs_f64(),
                        s.profile,
                        s.seed,
                        s.lift,
                        s.recall,
                        s.no_gain.len(),
                        s.accepted.len(),
                        s.saved * 100.0
                    ),
                    Err(e) => eprintln!("  {} seed {}: failed: {e:#}", c.profile.name, c.seed),
                }
                results.lock().expect("results")[i] = Some(r);
            });
        }
    });
    let mut scores = Vec::new();
    for r in results.into_inner().expect("results").into_iter().flatten() {
        scores.push(r?);
    }
    let summary = Summary::of(&scores);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "runs": scores,
                "summary": summary,
                "config": {
                    "generations": args.generations, "k": args.k,
                    "train_trials": args.train_trials, "val_trials": args.val_trials,
                    "test_trials": args.test_trials, "seeds": args.seeds,
                    "profiles": args.profiles,
                },
                "wall_secs": started.elapsed().as_secs_f64(),
            }))?
        );
    } else {
        print_table(&scores, &summary, started.elapsed().as_secs_f64());
    }
    Ok(if summary.all_met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn score_combo(
    args: &ImproveArgs,
    suite: &Suite,
    slots: &Arc<Slots>,
    out: &Path,
    c: &Combo,
) -> Result<RunScore> {
    let planted: Vec<FlawKind> = FlawKind::ALL
        .into_iter()
        .filter(|f| c.profile.flaws.get(f).is_some_and(|s| s.rate > 0.0))
        .collect();
    let oracle = oracle_test(args, suite, slots, out, c);
    let (events, wall) = run_one(args, suite, slots, out, c, true)?;
    let mut s = score_run(&events, &planted, args.k, oracle);
    s.profile = c.profile.name.clone();
    s.wall_secs = wall;
    if args.check_decisions {
        let (full, _) = run_one(args, suite, slots, out, c, false)?;
        let f = score_run(&full, &planted, args.k, oracle);
        s.same_decisions = Some(f.decisions == s.decisions && f.champion == s.champion);
    }
    Ok(s)
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub runs: usize,
    pub lift_mean: f64,
    pub lift_min: f64,
    pub recall: f64,
    pub false_accept_rate: f64,
    pub saved: f64,
    pub same_decisions: Option<bool>,
    pub all_met: bool,
}

impl Summary {
    /// Pooled over runs: recall over all planted kinds, false accepts over all accepted
    /// edits, savings over all planned pairs; lift as mean and minimum.
    pub fn of(scores: &[RunScore]) -> Summary {
        let n = scores.len().max(1) as f64;
        let lift_mean = scores.iter().map(|s| s.lift).sum::<f64>() / n;
        let lift_min = scores.iter().map(|s| s.lift).fold(f64::INFINITY, f64::min);
        let sum = |f: &dyn Fn(&RunScore) -> usize| scores.iter().map(f).sum::<usize>() as f64;
        let recall = sum(&|s| s.surfaced.len()) / sum(&|s| s.planted.len()).max(1.0);
        let false_accept_rate = sum(&|s| s.no_gain.len()) / sum(&|s| s.accepted.len()).max(1.0);
        let planned: u64 = scores.iter().map(|s| s.pairs_planned).sum();
        let evaluated: u64 = scores.iter().map(|s| s.pairs_evaluated).sum();
        let saved = if planned > 0 {
            1.0 - evaluated as f64 / planned as f64
        } else {
            0.0
        };
        let checks: Vec<bool> = scores.iter().filter_map(|s| s.same_decisions).collect();
        let same_decisions = (!checks.is_empty()).then(|| checks.iter().all(|&b| b));
        Summary {
            runs: scores.len(),
            lift_mean,
            lift_min: if scores.is_empty() { 0.0 } else { lift_min },
            recall,
            false_accept_rate,
            saved,
            same_decisions,
            all_met: lift_mean >= LIFT_TARGET
                && recall >= RECALL_TARGET
                && false_accept_rate <= FALSE_ACCEPT_TARGET
                && saved >= SAVED_TARGET
                && same_decisions != Some(false),
        }
    }
}

fn print_table(scores: &[RunScore], s: &Summary, wall: f64) {
    println!(
        "{:<10} {:>4} {:>6} {:>6} {:>6} {:>5} {:>7} {:>9} {:>6} {:>4} {:>6} {:>6}",
        "profile",
        "seed",
        "base",
        "final",
        "oracle",
        "lift",
        "recall",
        "no-gain",
        "saved",
        "gens",
        "evals",
        "wall"
    );
    for r in scores {
        println!(
            "{:<10} {:>4} {:>5.1}% {:>5.1}% {:>5.1}% {:>5.2} {:>3}/{:<3} {:>5}/{:<3} {:>5.1}% {:>4} {:>6} {:>5.0}s{}",
            r.profile,
            r.seed,
            r.baseline_test * 100.0,
            r.final_test * 100.0,
            r.oracle_test * 100.0,
            r.lift,
            r.surfaced.len(),
            r.planted.len(),
            r.no_gain.len(),
            r.accepted.len(),
            r.saved * 100.0,
            r.generations,
            r.evaluations,
            r.wall_secs,
            match r.same_decisions {
                Some(true) => "  same decisions without early stopping",
                Some(false) => "  DIFFERENT decisions without early stopping",
                None => "",
            }
        );
    }
    let mark = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("\nover {} runs ({wall:.0}s):", s.runs);
    println!(
        "  lift recovered       mean {:.2} (min {:.2})   target ≥ {LIFT_TARGET}: {}",
        s.lift_mean,
        s.lift_min,
        mark(s.lift_mean >= LIFT_TARGET)
    );
    println!(
        "  mining recall        {:.2}                 target ≥ {RECALL_TARGET}: {}",
        s.recall,
        mark(s.recall >= RECALL_TARGET)
    );
    println!(
        "  false-accept rate    {:.3}                target ≤ {FALSE_ACCEPT_TARGET}: {}",
        s.false_accept_rate,
        mark(s.false_accept_rate <= FALSE_ACCEPT_TARGET)
    );
    println!(
        "  evaluations saved    {:.1} %               target ≥ {:.0} %: {}{}",
        s.saved * 100.0,
        SAVED_TARGET * 100.0,
        mark(s.saved >= SAVED_TARGET),
        match s.same_decisions {
            Some(true) => " (decisions checked identical without early stopping)",
            Some(false) => " (DECISIONS DIFFER without early stopping)",
            None => " (decisions: exact curtailment; check with --check-decisions)",
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use selfharness_coordinator::SplitScore;
    use selfharness_miner::Weakness;
    use selfharness_validator::Decision;

    fn weakness(kind: &str) -> Weakness {
        Weakness {
            id: format!("w-{kind}"),
            kind: kind.into(),
            tool: "bash".into(),
            error: String::new(),
            name: kind.into(),
            failures: 1,
            tasks: 1,
            position: 0.0,
            evidence: Vec::new(),
        }
    }

    fn decision(accepted: bool, evaluated: usize) -> Decision {
        Decision {
            accepted,
            p_value: 0.5,
            b: 0,
            c: 0,
            pairs_evaluated: evaluated,
            pairs_planned: 100,
            regressions: Vec::new(),
            reason: String::new(),
        }
    }

    fn test_score(h: &str, passed: u32) -> RunEvent {
        RunEvent::Scored {
            score: SplitScore {
                harness_id: h.into(),
                split: Split::Test,
                passed,
                total: 100,
            },
        }
    }

    #[test]
    fn a_run_is_scored_against_what_was_planted() {
        let baseline = Harness::builtin_default();
        let events = vec![
            RunEvent::RunStarted {
                config: RunConfig {
                    seed: 9,
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
                // `flood` is mined, but below the top k = 2: it did not surface.
                weaknesses: vec![
                    weakness("ignored_failure"),
                    weakness("command_timeout"),
                    weakness("context_overflow"),
                ],
            },
            RunEvent::Decided {
                generation: 1,
                proposal: "p-a".into(),
                decision: decision(true, 60),
            },
            RunEvent::Decided {
                generation: 1,
                proposal: "p-b".into(),
                decision: decision(false, 20),
            },
            RunEvent::Advanced {
                generation: 1,
                champion: baseline.clone(),
                accepted: vec!["p-a".into()],
                validation: SplitScore {
                    harness_id: "x".into(),
                    split: Split::Validation,
                    passed: 1,
                    total: 1,
                },
            },
            test_score(&baseline.id(), 20),
            test_score("h-final", 80),
            RunEvent::Ablated {
                proposal: "p-a".into(),
                without: "h-w".into(),
                effect: 0.0,
            },
        ];
        let planted = [
            FlawKind::IgnoreFailure,
            FlawKind::Hang,
            FlawKind::Flood,
            FlawKind::TypoPath,
        ];
        let s = score_run(&events, &planted, 2, 0.9);
        assert_eq!(s.seed, 9);
        assert_eq!(s.surfaced, ["ignore_failure", "hang"]);
        assert!((s.recall - 0.5).abs() < 1e-9);
        assert!((s.lift - (0.8 - 0.2) / (0.9 - 0.2)).abs() < 1e-9);
        assert_eq!(s.no_gain, ["p-a"], "an ablation effect of zero is no gain");
        assert!((s.saved - 0.6).abs() < 1e-9, "{}", s.saved);
        assert_eq!(
            s.decisions,
            [("p-a".to_string(), true), ("p-b".to_string(), false)]
        );
        let sum = Summary::of(&[s]);
        assert!((sum.false_accept_rate - 1.0).abs() < 1e-9);
        assert!(!sum.all_met);
    }

    #[test]
    fn every_flaw_kind_has_a_weakness_that_reveals_it() {
        let kinds = [
            "ignored_failure",
            "unnamed_write_path",
            "premature_done",
            "command_timeout",
            "context_overflow",
            "destructive_command",
            "malformed_reply",
        ];
        let found: std::collections::BTreeSet<FlawKind> =
            kinds.iter().filter_map(|k| flaw_of_weakness(k)).collect();
        assert_eq!(found.len(), FlawKind::ALL.len());
    }
}
