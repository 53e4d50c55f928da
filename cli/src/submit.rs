//! `selfharness run --nats URL`: submit a run to a deployed cluster (CreateRun over NATS) or
//! follow one already there (`--watch RUN_ID`), print its progress from the run's event stream,
//! keep a copy of its event log in the run directory and write the report there at the end.
//! The loop itself runs in the cluster's `selfharness coordinator`; this client never
//! evaluates or decides anything.

use crate::run_cmd::{config, describe, RunArgs};
use anyhow::{Context, Result};
use selfharness_bus::runs::RunClient;
use selfharness_coordinator::RunEvent;
use selfharness_core::harness::Harness;
use selfharness_core::policy::Policy;
use selfharness_proto::convert::CreateRun;
use selfharness_proto::FromProto;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn submit(args: &RunArgs, url: &str) -> Result<ExitCode> {
    if args.resume.is_some() {
        anyhow::bail!(
            "--resume with --nats: the cluster's coordinator resumes its runs itself; follow one \
             with --watch RUN_ID (or add --local-coordinator to run the loop here)"
        );
    }
    let rt = tokio::runtime::Runtime::new()?;
    let client = rt
        .block_on(RunClient::connect(url))
        .with_context(|| format!("connecting to NATS at {url}"))?;
    let run = match &args.watch {
        Some(id) => rt.block_on(client.get(id)),
        None => {
            let req = CreateRun {
                config: config(args),
                baseline: match &args.harness {
                    Some(p) => Harness::load(p)?,
                    None => Harness::builtin_default(),
                },
                policy: match &args.policy {
                    Some(p) => Policy::load(p)?,
                    None => Policy::default(),
                },
            };
            rt.block_on(client.create(&req))
        }
    }
    .map_err(anyhow::Error::msg)?;
    let id = run.run_id.clone();
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&id));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if !args.quiet {
        eprintln!(
            "run {id} on the cluster at {url}; its log is copied to {} (Ctrl-C leaves it running; \
             `selfharness run --nats {url} --watch {id}` follows it again)",
            dir.display()
        );
    }
    // The local copy of the log, rewritten from the first event.
    let log_path = dir.join("events.jsonl");
    let mut log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut rx = {
        let _g = rt.enter();
        client.watch(&id, 0)
    };
    let mut finished = None;
    let mut expected = 1u64;
    let mut progress = crate::progress::Progress::new(0, false);
    while let Some(e) = rx.blocking_recv() {
        anyhow::ensure!(
            e.seq == expected,
            "run {id}: event {} arrived where {expected} was due",
            e.seq
        );
        expected += 1;
        writeln!(log, "{}", e.json)?;
        let event =
            RunEvent::from_proto(&e).with_context(|| format!("run {id}: event {}", e.seq))?;
        if let RunEvent::RunStarted { config, .. } = &event {
            progress =
                crate::progress::Progress::new(config.generations, !args.json && !args.quiet);
        }
        progress.event(&event);
        if matches!(event, RunEvent::Evaluated { .. }) {
            progress.evaluated();
        } else if args.quiet {
        } else if args.json {
            println!("{}", e.json);
        } else if let Some(line) = describe(&event) {
            progress.println(&line);
        }
        if let RunEvent::Finished {
            champion, reason, ..
        } = event
        {
            finished = Some((champion, reason));
            break;
        }
    }
    progress.finish();
    log.flush()?;
    drop(log);
    let (champion, reason) =
        finished.with_context(|| format!("run {id}: the event stream ended before the run did"))?;
    let data = selfharness_coordinator::report::load(&log_path)
        .with_context(|| format!("reading {}", log_path.display()))?;
    let fetched = rt
        .block_on(client.fetch_cited_traces(&data, &dir))
        .unwrap_or_else(|e| {
            eprintln!("warning: traces not fetched: {e}");
            0
        });
    tracing::info!(traces = fetched, "cited traces fetched");
    selfharness_coordinator::report::write_data(&dir, &data)
        .with_context(|| format!("writing the report in {}", dir.display()))?;
    println!(
        "final champion {champion} ({reason}); report: {}",
        dir.join("report.md").display()
    );
    Ok(ExitCode::SUCCESS)
}
