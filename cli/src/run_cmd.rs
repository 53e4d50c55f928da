//! `selfharness run`: the whole loop in one process (the embedded default) — stages called
//! directly, evaluations on local threads, the event log a local file.

use crate::eval_cmd::{load_suite, utc_stamp};
use crate::models::{self, ModelArgs};
use anyhow::{Context, Result};
use clap::Args;
use selfharness_coordinator::{Backend, Coordinator, RunConfig, RunEvent};
use selfharness_core::eval::{evaluate_all, EvalDirs, EvalJob, Evaluation, Slots};
use selfharness_core::harness::Harness;
use selfharness_core::model::Model;
use selfharness_core::policy::Policy;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args)]
pub struct RunArgs {
    /// Task suite directory (Harbor layout, with splits.toml).
    #[arg(long, env = "SELFHARNESS_SUITE", default_value = "tasks")]
    pub suite: PathBuf,
    /// Baseline harness (TOML); default: the built-in default harness.
    #[arg(long, env = "SELFHARNESS_HARNESS")]
    pub harness: Option<PathBuf>,
    /// Guardrail policy (TOML); default: the built-in policy. Task ids, test file names and
    /// expected outputs of the suite are always forbidden content.
    #[arg(long, env = "SELFHARNESS_POLICY")]
    pub policy: Option<PathBuf>,
    #[arg(long, env = "SELFHARNESS_GENERATIONS", default_value_t = 5)]
    pub generations: u32,
    /// Proposals per generation.
    #[arg(long, env = "SELFHARNESS_K", default_value_t = 4)]
    pub k: usize,
    #[arg(long, env = "SELFHARNESS_SEED", default_value_t = 1)]
    pub seed: u64,
    #[arg(long, env = "SELFHARNESS_TRAIN_TRIALS", default_value_t = 4)]
    pub train_trials: u32,
    /// Trials per validation task: more trials, more power to accept small real gains.
    #[arg(long, env = "SELFHARNESS_VAL_TRIALS", default_value_t = 16)]
    pub val_trials: u32,
    #[arg(long, env = "SELFHARNESS_TEST_TRIALS", default_value_t = 8)]
    pub test_trials: u32,
    /// The run's total false-accept budget (split evenly over every test it may run).
    #[arg(long, env = "SELFHARNESS_ALPHA", default_value_t = 0.05)]
    pub alpha: f64,
    /// Stop after this many generations without an accepted edit.
    #[arg(long, env = "SELFHARNESS_PLATEAU", default_value_t = 2)]
    pub plateau: u32,
    /// Candidate failures tolerated on a validation task the champion solved in every trial.
    #[arg(long, env = "SELFHARNESS_TOLERANCE", default_value_t = 1)]
    pub tolerance: u32,
    /// Run every validation pair even when the decision is already certain.
    #[arg(long)]
    pub no_early_stop: bool,
    /// Skip the final ablation (champion minus each accepted edit).
    #[arg(long)]
    pub no_ablation: bool,
    /// Budget caps (0 = none): evaluations, tokens, wall seconds, dollars.
    #[arg(long, env = "SELFHARNESS_MAX_EVALS", default_value_t = 0)]
    pub max_evals: u64,
    #[arg(long, env = "SELFHARNESS_MAX_TOKENS", default_value_t = 0)]
    pub max_tokens: u64,
    #[arg(long, env = "SELFHARNESS_MAX_WALL_SECS", default_value_t = 0)]
    pub max_wall_secs: u64,
    #[arg(long, env = "SELFHARNESS_MAX_DOLLARS", default_value_t = 0.0)]
    pub max_dollars: f64,
    /// Dollars per million tokens, for --max-dollars.
    #[arg(long, env = "SELFHARNESS_PRICE_PER_MTOK", default_value_t = 0.0)]
    pub price_per_mtok: f64,
    /// Evaluations at once (episodes mostly wait on commands, so more than the core count helps).
    #[arg(long, env = "SELFHARNESS_JOBS", default_value_t = 32)]
    pub jobs: usize,
    /// Validation pairs per candidate per round of the sequential test: smaller rounds stop
    /// hopeless candidates sooner, larger ones keep more evaluations in flight. Decisions are
    /// the same whatever the value.
    #[arg(long, env = "SELFHARNESS_BATCH", default_value_t = 16)]
    pub batch: usize,
    /// Run directory; default runs/run-<UTC time>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this directory after a kill (config and baseline come from its log).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Submit the run to a deployed cluster through this NATS server (JetStream on): its
    /// `selfharness coordinator` runs the loop on its validators, miners and proposers; this
    /// command follows the run's events, keeps a copy of its log in --out and writes the report
    /// there. Leaving (Ctrl-C) does not stop the run; --watch RUN_ID follows it again.
    #[arg(long, env = "SELFHARNESS_NATS")]
    pub nats: Option<String>,
    /// With --nats: follow this run already on the cluster instead of submitting a new one.
    #[arg(long, requires = "nats")]
    pub watch: Option<String>,
    /// With --nats: evaluate on the cluster's validators but run the coordinator (and the
    /// miner and proposer) here, in this process (resumable with --resume).
    #[arg(long, requires = "nats")]
    pub local_coordinator: bool,
    /// With --nats --local-coordinator: how the bus redelivers jobs.
    #[command(flatten)]
    pub delivery: crate::roles::DeliveryArgs,
    /// Print events as JSON lines on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but the final line (for benchmarks and tests).
    #[arg(long)]
    pub quiet: bool,
    /// Serve the live dashboard on this address (e.g. 127.0.0.1:8080; port 0: any free port):
    /// runs list, this run's live page, its report, Prometheus /metrics.
    #[arg(long, env = "SELFHARNESS_HTTP")]
    pub http: Option<String>,
    /// With --http: keep serving this many seconds after the run ends.
    #[arg(
        long,
        env = "SELFHARNESS_HTTP_LINGER",
        default_value_t = 0,
        requires = "http"
    )]
    pub http_linger: u64,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub struct LocalBackend {
    pub model: Arc<dyn Model>,
    pub dirs: EvalDirs,
    /// Shared by every concurrent call: `--jobs` evaluations at once in all.
    pub slots: Arc<Slots>,
}

impl Backend for LocalBackend {
    fn model_id(&self) -> String {
        self.model.id()
    }
    fn evaluate(
        &self,
        jobs: Vec<EvalJob>,
        on_done: &(dyn Fn(&Evaluation) + Sync),
    ) -> Vec<Evaluation> {
        evaluate_all(jobs, self.model.clone(), &self.dirs, &self.slots, on_done)
    }
    fn trace_path(&self, name: &str) -> PathBuf {
        self.dirs.traces.join(name)
    }
}

pub fn describe(e: &RunEvent) -> Option<String> {
    Some(match e {
        RunEvent::GenerationStarted {
            generation,
            champion,
        } => format!("generation {generation}: champion {champion}"),
        RunEvent::Mined { weaknesses, .. } => {
            let top: Vec<String> = weaknesses
                .iter()
                .take(5)
                .map(|w| format!("{} ({} failures, {} tasks)", w.kind, w.failures, w.tasks))
                .collect();
            format!(
                "  mined {} weaknesses; top: {}",
                weaknesses.len(),
                top.join(", ")
            )
        }
        RunEvent::Proposed {
            proposals,
            rejected,
            ..
        } => format!(
            "  proposed {} edits ({} ideas rejected)",
            proposals.len(),
            rejected.len()
        ),
        RunEvent::Decided {
            proposal,
            decision: d,
            ..
        } => format!(
            "  {} {proposal}: b={} c={} p={:.4} after {}/{} pairs — {}",
            if d.accepted { "ACCEPT" } else { "reject" },
            d.b,
            d.c,
            d.p_value,
            d.pairs_evaluated,
            d.pairs_planned,
            d.reason
        ),
        RunEvent::Composed {
            proposals,
            decision: Some(d),
            ..
        } => format!("  composition of {}: {}", proposals.join(" + "), d.reason),
        RunEvent::Advanced {
            champion,
            validation,
            ..
        } => format!(
            "  → new champion {} (validation {}/{})",
            champion.id(),
            validation.passed,
            validation.total
        ),
        RunEvent::NoAdvance { .. } => "  → no edit accepted".into(),
        RunEvent::StageFailed { stage, error, .. } => format!("  the {stage} failed: {error}"),
        RunEvent::Stopped { reason } => format!(
            "stopped: {reason}; scoring baseline and champion (sealed test split opens now)"
        ),
        RunEvent::Scored { score } => format!(
            "  {} on {}: {}/{} passed",
            score.harness_id, score.split, score.passed, score.total
        ),
        RunEvent::Ablated {
            proposal, effect, ..
        } => format!("  ablation {proposal}: {:+.1} pp", effect * 100.0),
        _ => return None,
    })
}

/// The run's id on the bus: its directory name, reduced to a subject-safe token, so a resumed
/// run finds its own results.
fn run_id(dir: &std::path::Path) -> String {
    let name = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string();
    let tail: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{tail}-{:08x}",
        selfharness_core::rng::hash_str(&name) as u32
    )
}

/// The loop's configuration from the flags.
pub fn config(args: &RunArgs) -> RunConfig {
    RunConfig {
        seed: args.seed,
        generations: args.generations,
        k: args.k,
        train_trials: args.train_trials,
        val_trials: args.val_trials,
        test_trials: args.test_trials,
        alpha: args.alpha,
        tolerance: args.tolerance,
        plateau: args.plateau,
        early_stop: !args.no_early_stop,
        ablation: !args.no_ablation,
        batch: args.batch.max(1),
        max_evals: args.max_evals,
        max_tokens: args.max_tokens,
        max_wall_secs: args.max_wall_secs,
        max_dollars: args.max_dollars,
        price_per_mtok: args.price_per_mtok,
    }
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    if let (Some(url), false) = (&args.nats, args.local_coordinator) {
        return crate::submit::submit(&args, url);
    }
    let suite = load_suite(&args.suite, args.quiet || args.json)?;
    let (run_dir, cfg, baseline) = match &args.resume {
        Some(dir) => {
            let first = std::fs::read_to_string(dir.join("events.jsonl"))
                .with_context(|| format!("{}: no event log to resume", dir.display()))?;
            let line = first.lines().next().context("event log is empty")?;
            match serde_json::from_str::<RunEvent>(line).context("first event of the log")? {
                RunEvent::RunStarted {
                    config, baseline, ..
                } => (dir.clone(), config, baseline),
                _ => anyhow::bail!("{}: the log does not start with run_started", dir.display()),
            }
        }
        None => {
            let cfg = config(&args);
            let baseline = match &args.harness {
                Some(p) => Harness::load(p)?,
                None => Harness::builtin_default(),
            };
            (
                args.out
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("runs").join(format!("run-{}", utc_stamp()))),
                cfg,
                baseline,
            )
        }
    };
    let mut policy = match &args.policy {
        Some(p) => Policy::load(p)?,
        None => Policy::default(),
    };
    policy.guard_suite(&suite);
    let model = models::build(&args.model, &suite)?;
    let backend: Box<dyn Backend> = match &args.nats {
        Some(url) => Box::new(
            selfharness_bus::backend::NatsBackend::connect(
                url,
                &run_id(&run_dir),
                model.id(),
                selfharness_proto::suite_digest(&suite)?,
                run_dir.join("traces"),
                args.delivery.delivery(),
            )
            .with_context(|| format!("connecting to NATS at {url}"))?,
        ),
        None => Box::new(LocalBackend {
            model,
            dirs: EvalDirs {
                sandboxes: std::env::temp_dir().join("selfharness-sandboxes"),
                traces: run_dir.join("traces"),
            },
            slots: Arc::new(Slots::new(args.jobs)),
        }),
    };
    let mut c = Coordinator::new(cfg, suite, policy, baseline, &*backend, run_dir.clone());
    if let Some(addr) = &args.http {
        let (runs_dir, id) = selfharness_web::runs_dir_and_id(&run_dir);
        let hub = Arc::new(selfharness_web::Hub::new(Some(runs_dir)));
        let bound = selfharness_web::spawn(addr, hub.clone())
            .with_context(|| format!("serving the dashboard on {addr}"))?;
        eprintln!("dashboard: http://{bound}/runs/{id}");
        c.on_logged = Box::new(move |seq, e| hub.logged(&id, seq, e));
    }
    let (json, quiet) = (args.json, args.quiet);
    let progress = Arc::new(crate::progress::Progress::new(
        c.cfg.generations,
        !json && !quiet,
    ));
    let p = progress.clone();
    c.on_event = Box::new(move |e| {
        p.event(e);
        if quiet {
        } else if json {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
        } else if let Some(line) = describe(e) {
            p.println(&line);
        }
    });
    let p = progress.clone();
    c.on_eval = Box::new(move |_| p.evaluated());
    let outcome = c.run();
    progress.finish();
    let outcome = outcome?;
    println!(
        "final champion {} ({}); report: {}",
        outcome.champion.id(),
        outcome.reason,
        outcome.run_dir.join("report.md").display()
    );
    std::thread::sleep(std::time::Duration::from_secs(args.http_linger));
    Ok(ExitCode::SUCCESS)
}
