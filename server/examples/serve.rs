//! Serve the miner, the catalogue proposer and a validator (scripted model, built-in suite) on
//! one address until Ctrl-C, for trying the contract by hand:
//!
//! ```sh
//! cargo run -p selfharness-server --example serve -- 127.0.0.1:50051
//! grpcurl -plaintext 127.0.0.1:50051 list
//! ```

use selfharness_core::eval::EvalDirs;
use selfharness_core::harness::Harness;
use selfharness_core::model::scripted::{FlawProfile, ScriptedModel};
use selfharness_core::task::Suite;
use selfharness_server::{
    serve, MemoryHarnessStore, MinerService, ProposerService, Services, ValidatorService,
};
use std::path::Path;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".into());
    let suite = Suite::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tasks"))?;
    let model = Arc::new(ScriptedModel::new(&suite, FlawProfile::builtin_default()));
    let work = std::env::temp_dir().join("selfharness-serve-example");
    let dirs = EvalDirs {
        sandboxes: work.join("sandboxes"),
        traces: work.join("traces"),
    };
    let store = MemoryHarnessStore::with([Harness::builtin_default(), Harness::builtin_oracle()]);
    let validator = ValidatorService::new(model, suite, dirs, Arc::new(store))?;
    println!(
        "model {} suite {}",
        validator.model_id(),
        validator.suite_digest()
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let services = Services::new()
        .miner(MinerService::new())
        .proposer(ProposerService::catalogue())
        .validator(validator);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, ctrl_c, services).await?;
    Ok(())
}
