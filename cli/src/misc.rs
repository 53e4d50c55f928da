//! Small commands: `serve-model`, `patch`, `tasks check`.

use crate::eval_cmd::load_suite;
use crate::models::{self};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use selfharness_core::harness::Harness;
use selfharness_core::model::scripted::ScriptedModel;
use selfharness_core::model::scripted::{parse_solution, Action};
use selfharness_core::model::serve::ModelServer;
use selfharness_core::patch::HarnessPatch;
use selfharness_core::policy::Policy;
use selfharness_core::sandbox::Sandbox;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
pub struct ServeArgs {
    /// Task suite whose reference solutions the scripted model replays.
    #[arg(long, default_value = "tasks")]
    pub suite: PathBuf,
    /// Flaw profile (TOML); default: the built-in default profile.
    #[arg(long)]
    pub flaws: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub addr: String,
    #[arg(long, default_value_t = 8)]
    pub threads: usize,
}

pub fn serve_model(args: ServeArgs) -> Result<ExitCode> {
    let suite = load_suite(&args.suite, false)?;
    let margs = models::ModelArgs {
        model: "scripted".into(),
        flaws: args.flaws,
        base_url: None,
        model_name: None,
        api_key_env: None,
    };
    let model = Arc::new(ScriptedModel::new(&suite, models::profile(&margs)?));
    let server = ModelServer::bind(&args.addr).with_context(|| format!("binding {}", args.addr))?;
    println!(
        "serving scripted model {} on http://{}/v1",
        selfharness_core::model::Model::id(&*model),
        server.local_addr()
    );
    let handles = server.spawn(model, args.threads);
    for h in handles {
        let _ = h.join();
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct PatchArgs {
    /// Harness to patch (default: built-in default).
    #[arg(long)]
    pub harness: Option<PathBuf>,
    /// The patch (TOML, or JSON with a .json extension).
    #[arg(long)]
    pub patch: PathBuf,
    /// Policy (TOML); default: the built-in default policy.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Guard against hard-coding this suite (its task ids, test file names, expected outputs).
    #[arg(long)]
    pub suite: Option<PathBuf>,
    /// Print `{"from", "to", "harness"}` (or `{"rejected": reason}`) as JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
}

pub fn patch(args: PatchArgs) -> Result<ExitCode> {
    let base = match &args.harness {
        Some(p) => Harness::load(p)?,
        None => Harness::builtin_default(),
    };
    let mut policy = match &args.policy {
        Some(p) => Policy::load(p)?,
        None => Policy::default(),
    };
    if let Some(s) = &args.suite {
        policy.guard_suite(&load_suite(s, true)?);
    }
    let patch = HarnessPatch::load(&args.patch)?;
    let applied = patch.apply(&base, &policy);
    if args.json {
        let out = match &applied {
            Ok(next) => serde_json::json!({"from": base.id(), "to": next.id(), "harness": next}),
            Err(e) => serde_json::json!({"from": base.id(), "rejected": e.to_string()}),
        };
        println!("{out}");
        return Ok(if applied.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let next = applied.with_context(|| format!("applying {}", args.patch.display()))?;
    println!("# {} -> {}", base.id(), next.id());
    print!("{}", next.to_toml());
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct TasksArgs {
    #[command(subcommand)]
    pub what: TasksWhat,
}

#[derive(Subcommand)]
pub enum TasksWhat {
    /// Every task loads, its reference solution passes its verifier, and doing nothing fails it.
    Check {
        #[arg(long, default_value = "tasks")]
        suite: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// Result of checking one task.
#[derive(serde::Serialize)]
pub struct TaskCheck {
    pub task_id: String,
    pub noop_reward: Option<f64>,
    pub solution_reward: Option<f64>,
    pub problem: Option<String>,
}

pub fn check_task(task: &selfharness_core::task::Task, base: &std::path::Path) -> TaskCheck {
    let mut c = TaskCheck {
        task_id: task.id.clone(),
        noop_reward: None,
        solution_reward: None,
        problem: None,
    };
    let verifier_timeout = Duration::from_secs_f64(task.config.verifier_timeout_sec);
    let noop = Sandbox::for_task(task, base).and_then(|s| s.run_verifier(verifier_timeout));
    match noop {
        Ok(v) => c.noop_reward = Some(v.reward),
        Err(e) => c.problem = Some(format!("do-nothing run: {e}")),
    }
    let solved = (|| -> Result<f64> {
        let sb = Sandbox::for_task(task, base)?;
        let text = std::fs::read_to_string(task.solution())
            .with_context(|| format!("{}", task.solution().display()))?;
        for (i, step) in parse_solution(&text).iter().enumerate() {
            let r = match step {
                Action::Bash(cmd) => sb.exec(cmd, Duration::from_secs(60))?,
                Action::Write { path, content } => sb.write_file(path, content)?,
                Action::Done => continue,
            };
            anyhow::ensure!(
                r.ok(),
                "solution step {} exited {:?}: {}",
                i + 1,
                r.exit_code,
                r.stderr.trim()
            );
        }
        Ok(sb.run_verifier(verifier_timeout)?.reward)
    })();
    match solved {
        Ok(r) => c.solution_reward = Some(r),
        Err(e) => c.problem = Some(format!("{e:#}")),
    }
    if c.problem.is_none() {
        if c.solution_reward != Some(1.0) {
            c.problem = Some(format!(
                "reference solution scored {:?}, not 1",
                c.solution_reward
            ));
        } else if c.noop_reward != Some(0.0) {
            c.problem = Some(format!("doing nothing scored {:?}, not 0", c.noop_reward));
        }
    }
    c
}

pub fn tasks(args: TasksArgs) -> Result<ExitCode> {
    let TasksWhat::Check { suite, json } = args.what;
    let suite = load_suite(&suite, json)?;
    let base = std::env::temp_dir().join("selfharness-sandboxes");
    let checks: Vec<TaskCheck> = std::thread::scope(|s| {
        let handles: Vec<_> = suite
            .tasks
            .chunks(suite.tasks.len().div_ceil(4).max(1))
            .map(|chunk| {
                let base = &base;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|t| check_task(t, base))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checker thread"))
            .collect()
    });
    let bad = checks.iter().filter(|c| c.problem.is_some()).count() + suite.errors.len();
    if json {
        println!(
            "{}",
            serde_json::json!({"tasks": checks, "load_errors": suite.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()})
        );
    } else {
        for c in &checks {
            match &c.problem {
                None => println!("ok    {}", c.task_id),
                Some(p) => println!("FAIL  {}: {p}", c.task_id),
            }
        }
        for e in &suite.errors {
            println!("FAIL  {e}");
        }
        println!(
            "{} tasks checked, {} with problems",
            checks.len() + suite.errors.len(),
            bad
        );
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
