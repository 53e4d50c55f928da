//! `selfharness dashboard`: the web dashboard (`selfharness_web`) over a runs directory, for
//! runs that are over or run elsewhere. A run page follows its `events.jsonl` as it grows, so a
//! run another process is writing shows up too. Live runs get their own dashboard with
//! `selfharness run --http ADDR`.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args)]
pub struct DashboardArgs {
    /// Address to serve on (port 0: any free port).
    #[arg(long, env = "SELFHARNESS_HTTP", default_value = "127.0.0.1:8080")]
    pub http: String,
    /// Directory holding run directories (a run directory's name is its id).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

pub fn dashboard(a: DashboardArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        a.runs.is_dir(),
        "{}: no such runs directory",
        a.runs.display()
    );
    let hub = Arc::new(selfharness_web::Hub::new(Some(a.runs.clone())));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.http)
            .await
            .with_context(|| format!("binding {}", a.http))?;
        eprintln!(
            "dashboard: http://{}/ (runs in {}; Ctrl-C stops)",
            listener.local_addr()?,
            a.runs.display()
        );
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        selfharness_web::serve(listener, hub, stop).await?;
        Ok(ExitCode::SUCCESS)
    })
}
