//! `selfharness`: one binary, many roles. This file parses the command line and hands off to
//! one module per command; no domain logic lives here.
//!
//! # Layout
//! - `models` — building a Model (scripted or openai) from flags.
//! - `eval_cmd` — `selfharness eval` and `selfharness bench eval`.
//! - `bench_improve` — `selfharness bench improve`: the loop scored against planted flaws.
//! - `bench_scale` — `selfharness bench scale`: scaling over validators, overhead, fold rate.
//! - `run_cmd` — `selfharness run`, the loop in one process.
//! - `misc` — `serve-model`, `patch`, `tasks check`.
//! - `roles` — `validator`: a role of the distributed deployment (NATS JetStream).
//! - `runs_cmd` — `runs`, `show`, `report`: past runs from their directories.
//! - `dashboard_cmd` — `dashboard`: the web dashboard over past runs.
//! - `telemetry` — logs to stderr and, with `OTEL_EXPORTER_OTLP_ENDPOINT`, spans over OTLP.

mod bench_improve;
mod bench_scale;
mod dashboard_cmd;
mod eval_cmd;
mod misc;
mod models;
mod progress;
mod roles;
mod run_cmd;
mod runs_cmd;
mod submit;
mod telemetry;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "selfharness",
    version,
    about = "Improve an AI agent's harness from its own execution traces.",
    long_about = "selfharness runs an agent harness on a task suite, mines the traces for recurring failures, \
proposes small harness edits, validates them on held-out tasks, and keeps only what measurably helps.\n\n\
Start with: selfharness eval   (runs the default harness on the built-in suite with the offline scripted model)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The self-improvement loop (mine → propose → validate → advance, generation after generation): in this process, or on a cluster with --nats.
    Run(Box<run_cmd::RunArgs>),
    /// Run a harness on a task suite split and report pass rate (95 % interval) and per-task outcomes.
    Eval(eval_cmd::EvalArgs),
    /// Serve the scripted model over the OpenAI-compatible HTTP API (POST /v1/chat/completions).
    ServeModel(misc::ServeArgs),
    /// Apply a harness patch under a policy and print the resulting harness (or why it was rejected).
    Patch(misc::PatchArgs),
    /// Check a task suite: every task loads, its reference solution passes, doing nothing fails.
    Tasks(misc::TasksArgs),
    /// Benchmarks that print measured figures (never run in the default tests).
    Bench(eval_cmd::BenchArgs),
    /// Validator role: pull evaluation jobs from NATS JetStream, run them, publish the results.
    Validator(Box<roles::ValidatorArgs>),
    /// Miner role: answer mine requests (selfharness.v1.Miner.Mine) over NATS in a queue group.
    Miner(roles::StageArgs),
    /// Proposer role: answer propose requests (selfharness.v1.Proposer.Propose) over NATS in a queue group.
    Proposer(roles::StageArgs),
    /// Coordinator role: run the loops clients ask for (selfharness run --nats), serve the run API over NATS and gRPC.
    Coordinator(Box<roles::CoordinatorArgs>),
    /// List past runs: start time, model, generations, baseline → final validation pass rate, status.
    Runs(runs_cmd::RunsArgs),
    /// Print one run's summary and the path to its report.html.
    Show(runs_cmd::ShowArgs),
    /// Regenerate report.md, report.html, report.json and the trace pages from a run's event log.
    Report(runs_cmd::ReportArgs),
    /// Serve the web dashboard of past runs (runs list, run pages, reports, /metrics) over HTTP.
    Dashboard(dashboard_cmd::DashboardArgs),
}

fn main() -> std::process::ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let _telemetry = telemetry::init(matches.subcommand_name().unwrap_or("selfharness"));
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Run(a) => run_cmd::run(*a),
        Command::Eval(a) => eval_cmd::eval(a),
        Command::ServeModel(a) => misc::serve_model(a),
        Command::Patch(a) => misc::patch(a),
        Command::Tasks(a) => misc::tasks(a),
        Command::Bench(a) => eval_cmd::bench(a),
        Command::Validator(a) => roles::validator(*a),
        Command::Miner(a) => roles::miner(a),
        Command::Proposer(a) => roles::proposer(a),
        Command::Coordinator(a) => roles::coordinator(*a),
        Command::Runs(a) => runs_cmd::runs(a),
        Command::Show(a) => runs_cmd::show(a),
        Command::Report(a) => runs_cmd::report(a),
        Command::Dashboard(a) => dashboard_cmd::dashboard(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
