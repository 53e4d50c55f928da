//! `selfharness eval` and `selfharness bench eval`: run a harness on a split, show progress,
//! print pass rate with a 95 % interval and per-task outcomes, write results and traces.

use crate::models::{self, ModelArgs};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use selfharness_core::eval::{evaluate_all, EvalDirs, EvalJob, EvalStatus, Evaluation, Slots};
use selfharness_core::harness::Harness;
use selfharness_core::model::Model;
use selfharness_core::stats::{wilson, Z95};
use selfharness_core::task::{Split, Suite};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(Args)]
pub struct EvalArgs {
    /// Harness file (TOML); default: the built-in default harness.
    #[arg(long)]
    pub harness: Option<PathBuf>,
    /// Task suite directory (Harbor layout, with splits.toml).
    #[arg(long, default_value = "tasks")]
    pub suite: PathBuf,
    /// Which split to run: train, validation, test, or all.
    #[arg(long, default_value = "validation")]
    pub split: String,
    /// Trials per task.
    #[arg(long, default_value_t = 1)]
    pub trials: u32,
    /// Run seed: the same seed gives the same outcomes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Evaluations run at once (episodes mostly wait on commands, so more than the core count helps).
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Run directory for results and traces; default: runs/eval-<UTC time>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the summary as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Serialize)]
pub struct TaskRow {
    pub task_id: String,
    pub passed: u32,
    pub trials: u32,
    pub errors: u32,
    pub ends: Vec<String>,
}

#[derive(Serialize)]
pub struct Summary {
    pub harness_id: String,
    pub harness_name: String,
    pub model_id: String,
    pub split: String,
    pub seed: u64,
    pub trials: u32,
    pub evaluations: usize,
    pub passed: usize,
    /// Evaluations that failed for infrastructure reasons (excluded from the pass rate).
    pub errors: usize,
    pub pass_rate: f64,
    pub ci95: (f64, f64),
    pub tokens: u64,
    pub wall_secs: f64,
    pub tasks: Vec<TaskRow>,
    pub suite_errors: Vec<String>,
    pub run_dir: PathBuf,
}

/// `20261126-114205` for now, in UTC (run directory names).
pub fn utc_stamp() -> String {
    crate::runs_cmd::utc(std::time::SystemTime::now())
        .replace(['-', ':'], "")
        .replace(' ', "-")
}

pub fn load_suite(dir: &Path, quiet: bool) -> Result<Suite> {
    let suite = Suite::load(dir).with_context(|| format!("loading suite {}", dir.display()))?;
    if !quiet {
        for e in &suite.errors {
            eprintln!("warning: skipped: {e}");
        }
    }
    Ok(suite)
}

fn tasks_of(suite: &Suite, split: &str) -> Result<Vec<selfharness_core::task::Task>> {
    let tasks: Vec<_> = if split == "all" {
        suite.tasks.clone()
    } else {
        let s: Split = split.parse().map_err(anyhow::Error::msg)?;
        suite.split(s).into_iter().cloned().collect()
    };
    anyhow::ensure!(
        !tasks.is_empty(),
        "split {split:?} of {} has no tasks",
        suite.dir.display()
    );
    Ok(tasks)
}

pub struct Plan {
    pub harness: Arc<Harness>,
    pub model: Arc<dyn Model>,
    pub jobs: Vec<EvalJob>,
    pub suite_errors: Vec<String>,
}

pub fn plan(args: &EvalArgs) -> Result<Plan> {
    let harness = Arc::new(match &args.harness {
        Some(p) => Harness::load(p)?,
        None => Harness::builtin_default(),
    });
    let suite = load_suite(&args.suite, false)?;
    let model = models::build(&args.model, &suite)?;
    let tasks = tasks_of(&suite, &args.split)?;
    let jobs = tasks
        .iter()
        .flat_map(|t| (0..args.trials.max(1)).map(move |trial| (t, trial)))
        .map(|(t, trial)| EvalJob {
            task: t.clone(),
            harness: harness.clone(),
            trial,
            seed: args.seed,
        })
        .collect();
    Ok(Plan {
        harness,
        model,
        jobs,
        suite_errors: suite.errors.iter().map(|e| e.to_string()).collect(),
    })
}

fn progress(n: usize, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(n as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} evaluations {pos}/{len} [{bar:30}] {per_sec} eta {eta} · {msg}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    pb
}

pub fn run_plan(plan: Plan, args: &EvalArgs) -> Result<Summary> {
    let run_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("eval-{}", utc_stamp())));
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let dirs = EvalDirs {
        sandboxes: std::env::temp_dir().join("selfharness-sandboxes"),
        traces: run_dir.join("traces"),
    };
    std::fs::write(run_dir.join("harness.toml"), plan.harness.to_toml())?;
    let pb = progress(plan.jobs.len(), args.json);
    let results_file = std::sync::Mutex::new(std::fs::File::create(run_dir.join("results.jsonl"))?);
    let passed = std::sync::atomic::AtomicUsize::new(0);
    let start = Instant::now();
    let on_done = |ev: &Evaluation| {
        if ev.passed() {
            passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Ok(line) = serde_json::to_string(ev) {
            let _ = writeln!(results_file.lock().expect("results lock"), "{line}");
        }
        pb.set_message(format!(
            "{} passed",
            passed.load(std::sync::atomic::Ordering::Relaxed)
        ));
        pb.inc(1);
    };
    let results = evaluate_all(
        plan.jobs,
        plan.model.clone(),
        &dirs,
        &Slots::new(args.jobs),
        &on_done,
    );
    pb.finish_and_clear();
    let summary = summarise(
        &plan.harness,
        &*plan.model,
        &results,
        args,
        start.elapsed().as_secs_f64(),
        plan.suite_errors,
        run_dir.clone(),
    );
    std::fs::write(
        run_dir.join("summary.json"),
        serde_json::to_vec_pretty(&summary)?,
    )?;
    Ok(summary)
}

fn summarise(
    h: &Harness,
    model: &dyn Model,
    results: &[Evaluation],
    args: &EvalArgs,
    wall: f64,
    suite_errors: Vec<String>,
    run_dir: PathBuf,
) -> Summary {
    let mut per: BTreeMap<&str, TaskRow> = BTreeMap::new();
    for ev in results {
        let row = per.entry(&ev.task_id).or_insert_with(|| TaskRow {
            task_id: ev.task_id.clone(),
            passed: 0,
            trials: 0,
            errors: 0,
            ends: vec![],
        });
        row.trials += 1;
        row.passed += u32::from(ev.passed());
        row.errors += u32::from(ev.status == EvalStatus::Error);
        row.ends.push(match (&ev.status, ev.end) {
            (EvalStatus::Error, _) => "error".into(),
            (_, Some(e)) => e.as_str().into(),
            (_, None) => "?".into(),
        });
    }
    let errors = results
        .iter()
        .filter(|e| e.status == EvalStatus::Error)
        .count();
    let passed = results.iter().filter(|e| e.passed()).count();
    let counted = results.len() - errors;
    Summary {
        harness_id: h.id(),
        harness_name: h.name.clone(),
        model_id: model.id(),
        split: args.split.clone(),
        seed: args.seed,
        trials: args.trials,
        evaluations: results.len(),
        passed,
        errors,
        pass_rate: if counted == 0 {
            0.0
        } else {
            passed as f64 / counted as f64
        },
        ci95: wilson(passed as u64, counted as u64, Z95),
        tokens: results
            .iter()
            .map(|e| e.usage.prompt_tokens + e.usage.completion_tokens)
            .sum(),
        wall_secs: wall,
        tasks: per.into_values().collect(),
        suite_errors,
        run_dir,
    }
}

fn print_summary(s: &Summary) {
    println!(
        "harness {} ({})  model {}  split {}  seed {}  trials {}",
        s.harness_name, s.harness_id, s.model_id, s.split, s.seed, s.trials
    );
    println!();
    println!("{:<32} {:>7}  ends", "task", "passed");
    for t in &s.tasks {
        println!(
            "{:<32} {:>3}/{:<3}  {}",
            t.task_id,
            t.passed,
            t.trials,
            t.ends.join(",")
        );
    }
    println!();
    println!(
        "pass rate {:.1}% ({}/{}), 95% CI [{:.1}%, {:.1}%]{}",
        s.pass_rate * 100.0,
        s.passed,
        s.evaluations - s.errors,
        s.ci95.0 * 100.0,
        s.ci95.1 * 100.0,
        if s.errors > 0 {
            format!(", {} infrastructure errors excluded", s.errors)
        } else {
            String::new()
        }
    );
    println!(
        "{} evaluations in {:.1}s, {} tokens; results and traces in {}",
        s.evaluations,
        s.wall_secs,
        s.tokens,
        s.run_dir.display()
    );
}

pub fn eval(args: EvalArgs) -> Result<ExitCode> {
    let plan = plan(&args)?;
    let s = run_plan(plan, &args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print_summary(&s);
    }
    Ok(if s.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Subcommand)]
pub enum BenchWhat {
    /// Time the whole built-in suite (every split), one trial, default harness, scripted model.
    Eval {
        #[arg(long, default_value = "tasks")]
        suite: PathBuf,
        #[arg(long, default_value_t = 8)]
        jobs: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Run the loop on the scripted testbed over seeds × flaw profiles and score it against the
    /// planted flaws: lift recovered, mining recall, false-accept rate, evaluations saved.
    Improve(crate::bench_improve::ImproveArgs),
    /// Scaling over validators on sleep-bound tasks (real nats-server and validator processes):
    /// efficiency, coordinator + bus overhead per evaluation, results folded per second.
    Scale(crate::bench_scale::ScaleArgs),
}

pub fn bench(args: BenchArgs) -> Result<ExitCode> {
    let (suite, jobs, seed, json) = match args.what {
        BenchWhat::Eval {
            suite,
            jobs,
            seed,
            json,
        } => (suite, jobs, seed, json),
        BenchWhat::Improve(a) => return crate::bench_improve::improve(a),
        BenchWhat::Scale(a) => return crate::bench_scale::scale(a),
    };
    let out = std::env::temp_dir().join(format!("selfharness-bench-{}", std::process::id()));
    let eval_args = EvalArgs {
        harness: None,
        suite,
        split: "all".into(),
        trials: 1,
        seed,
        jobs,
        out: Some(out.clone()),
        json: true,
        model: ModelArgs {
            model: "scripted".into(),
            flaws: None,
            base_url: None,
            model_name: None,
            api_key_env: None,
        },
    };
    let p = plan(&eval_args)?;
    let s = run_plan(p, &eval_args)?;
    let _ = std::fs::remove_dir_all(&out);
    let rate = s.evaluations as f64 / s.wall_secs;
    if json {
        println!(
            "{}",
            serde_json::json!({"evaluations": s.evaluations, "wall_secs": s.wall_secs, "evals_per_sec": rate, "jobs": jobs, "pass_rate": s.pass_rate})
        );
    } else {
        println!("bench eval: {} evaluations (whole suite, 1 trial, default harness) in {:.2}s = {:.2} evaluations/s with {} jobs (target: under 30 s)", s.evaluations, s.wall_secs, rate, jobs);
    }
    Ok(ExitCode::SUCCESS)
}
