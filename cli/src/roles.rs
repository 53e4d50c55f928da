//! Roles of the distributed deployment that this binary can play: `selfharness validator`
//! pulls evaluation jobs from NATS JetStream and answers them. (The coordinator's side is
//! `selfharness run --nats URL`.)

use crate::eval_cmd::load_suite;
use crate::models::{self, ModelArgs};
use anyhow::{Context, Result};
use clap::Args;
use selfharness_bus::worker::{self, WorkerConfig};
use selfharness_bus::Delivery;
use selfharness_core::eval::EvalDirs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct ValidatorArgs {
    /// NATS server URL (JetStream on).
    #[arg(
        long,
        env = "SELFHARNESS_NATS",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats: String,
    /// Task suite (must be the coordinator's: jobs carry its digest).
    #[arg(long, env = "SELFHARNESS_SUITE", default_value = "tasks")]
    pub suite: PathBuf,
    /// Evaluations this validator runs at once.
    #[arg(long, env = "SELFHARNESS_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Name in results and logs; default: the host name.
    #[arg(long, env = "SELFHARNESS_NAME")]
    pub name: Option<String>,
    /// Seconds a job may go without an ack (progress acks are sent while it runs) before the
    /// bus redelivers it to another validator.
    #[arg(long, env = "SELFHARNESS_ACK_WAIT_SECS", default_value_t = 30)]
    pub ack_wait_secs: u64,
    /// Deliveries of a job before it is dead-lettered (an infrastructure failure).
    #[arg(long, env = "SELFHARNESS_MAX_DELIVER", default_value_t = 3)]
    pub max_deliver: i64,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn delivery(ack_wait_secs: u64, max_deliver: i64) -> Delivery {
    Delivery {
        ack_wait: Duration::from_secs(ack_wait_secs.max(1)),
        max_deliver,
    }
}

pub fn validator(args: ValidatorArgs) -> Result<ExitCode> {
    let suite = load_suite(&args.suite, true)?;
    let model = models::build(&args.model, &suite)?;
    let name = args.name.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| format!("validator-{}", std::process::id()))
    });
    let dirs = EvalDirs {
        sandboxes: std::env::temp_dir().join("selfharness-sandboxes"),
        traces: std::env::temp_dir().join(format!("selfharness-traces-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dirs.traces)?;
    let cfg = WorkerConfig {
        name,
        concurrency: args.concurrency,
        delivery: delivery(args.ack_wait_secs, args.max_deliver),
    };
    eprintln!(
        "validator {}: {} at once, model {}, NATS {}",
        cfg.name,
        cfg.concurrency,
        model.id(),
        args.nats
    );
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = selfharness_bus::connect(&args.nats).await?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        worker::run(client, suite, model, dirs, cfg, shutdown).await
    })
    .context("validator")?;
    Ok(ExitCode::SUCCESS)
}
