//! Roles of the distributed deployment that this binary can play: `selfharness validator`
//! pulls evaluation jobs from NATS JetStream and answers them; `selfharness miner` and
//! `selfharness proposer` answer mine and propose requests in their queue groups;
//! `selfharness coordinator` runs the loops that clients (`selfharness run --nats URL`) ask
//! for, and serves the run API over NATS, gRPC and (with `--http`) the live dashboard.

use crate::eval_cmd::load_suite;
use crate::models::{self, ModelArgs};
use anyhow::{Context, Result};
use clap::Args;
use selfharness_bus::worker::{self, WorkerConfig};
use selfharness_bus::Delivery;
use selfharness_core::eval::EvalDirs;
use selfharness_core::harness::Harness;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
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
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    /// Also serve Validator.Evaluate (one direct, unqueued evaluation) over gRPC here, with
    /// health and reflection; harness documents come from the cluster's harness bucket.
    #[arg(long, env = "SELFHARNESS_GRPC")]
    pub grpc: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// The cluster's harness bucket as the gRPC validator's [`HarnessStore`].
struct BucketStore(async_nats::jetstream::kv::Store);

#[async_trait::async_trait]
impl selfharness_server::HarnessStore for BucketStore {
    async fn get(&self, id: &str) -> Result<Option<Harness>, selfharness_server::StoreError> {
        use selfharness_server::StoreError;
        let Some(doc) = self
            .0
            .get(id)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
        else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&doc).into_owned();
        let h = Harness::from_toml(std::path::Path::new(id), &text).map_err(|e| {
            StoreError::Corrupt {
                id: id.to_string(),
                reason: e.to_string(),
            }
        })?;
        if h.id() != id {
            return Err(StoreError::Corrupt {
                id: id.to_string(),
                reason: format!("the document's id is {}", h.id()),
            });
        }
        Ok(Some(h))
    }

    async fn put(&self, harness: &Harness) -> Result<String, selfharness_server::StoreError> {
        let id = harness.id();
        self.0
            .put(&id, harness.to_toml().into_bytes().into())
            .await
            .map_err(|e| selfharness_server::StoreError::Unavailable(e.to_string()))?;
        Ok(id)
    }
}

/// How the bus redelivers jobs (every role that publishes or pulls jobs takes these).
#[derive(Args)]
pub struct DeliveryArgs {
    /// Seconds a job may go without an ack (validators send progress acks while it runs) before
    /// the bus redelivers it to another validator.
    #[arg(long, env = "SELFHARNESS_ACK_WAIT_SECS", default_value_t = 30)]
    pub ack_wait_secs: u64,
    /// Deliveries of a job before it is dead-lettered (an infrastructure failure).
    #[arg(long, env = "SELFHARNESS_MAX_DELIVER", default_value_t = 3)]
    pub max_deliver: i64,
}

impl DeliveryArgs {
    pub fn delivery(&self) -> Delivery {
        Delivery {
            ack_wait: Duration::from_secs(self.ack_wait_secs.max(1)),
            max_deliver: self.max_deliver,
        }
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
        delivery: args.delivery.delivery(),
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
        let shutdown = shared(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        let mut services = selfharness_server::Services::new();
        if args.grpc.is_some() {
            let assets = selfharness_bus::assets(client.clone(), cfg.delivery).await?;
            services = services.validator(selfharness_server::ValidatorService::new(
                model.clone(),
                suite.clone(),
                dirs.clone(),
                Arc::new(BucketStore(assets.harnesses)),
            )?);
        }
        let grpc = tokio::spawn({
            let shutdown = shutdown.clone();
            let addr = args.grpc.clone();
            async move { serve_grpc("validator", addr.as_deref(), services, shutdown).await }
        });
        worker::run(client, suite, model, dirs, cfg, shutdown).await?;
        grpc.await??;
        anyhow::Ok(())
    })
    .context("validator")?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct StageArgs {
    /// NATS server URL (JetStream on).
    #[arg(
        long,
        env = "SELFHARNESS_NATS",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats: String,
    /// Also serve the stage over gRPC here (with health and reflection), e.g. 0.0.0.0:50052.
    #[arg(long, env = "SELFHARNESS_GRPC")]
    pub grpc: Option<String>,
}

/// A shutdown future every server of a process can wait on.
type Shutdown = futures::future::Shared<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>;

fn shared(f: impl Future<Output = ()> + Send + 'static) -> Shutdown {
    let f: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(f);
    futures::future::FutureExt::shared(f)
}

/// With `--grpc ADDR`: serve `services` (with health and reflection) there until `shutdown`.
async fn serve_grpc(
    what: &str,
    addr: Option<&str>,
    services: selfharness_server::Services,
    shutdown: Shutdown,
) -> Result<()> {
    let Some(addr) = addr else { return Ok(()) };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding --grpc {addr}"))?;
    eprintln!("{what}: gRPC on {}", listener.local_addr()?);
    selfharness_server::serve(listener, shutdown, services).await?;
    Ok(())
}

/// Ctrl-C or SIGTERM (what `docker stop` sends).
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Serve a stage over NATS (`nats`) and, with `--grpc`, over gRPC (`grpc`) until Ctrl-C or
/// SIGTERM.
fn serve_stage<N, NF>(
    what: &str,
    args: &StageArgs,
    nats: N,
    grpc: selfharness_server::Services,
) -> Result<ExitCode>
where
    N: FnOnce(async_nats::Client, Shutdown) -> NF,
    NF: Future<Output = selfharness_bus::Result<()>>,
{
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = selfharness_bus::connect(&args.nats).await?;
        eprintln!("{what}: serving on NATS {}", args.nats);
        let shutdown = shared(shutdown_signal());
        let over_grpc = serve_grpc(what, args.grpc.as_deref(), grpc, shutdown.clone());
        let over_nats = async {
            nats(client, shutdown.clone()).await?;
            anyhow::Ok(())
        };
        let (a, b) = tokio::join!(over_grpc, over_nats);
        a.and(b)
    })
    .with_context(|| what.to_string())?;
    Ok(ExitCode::SUCCESS)
}

pub fn miner(args: StageArgs) -> Result<ExitCode> {
    let grpc = selfharness_server::Services::new().miner(selfharness_server::MinerService::new());
    serve_stage("miner", &args, selfharness_bus::stages::serve_miner, grpc)
}

pub fn proposer(args: StageArgs) -> Result<ExitCode> {
    let grpc = selfharness_server::Services::new()
        .proposer(selfharness_server::ProposerService::catalogue());
    serve_stage(
        "proposer",
        &args,
        |client, shutdown| {
            selfharness_bus::stages::serve_proposer(
                client,
                selfharness_bus::stages::catalogue(),
                shutdown,
            )
        },
        grpc,
    )
}

#[derive(Args)]
pub struct CoordinatorArgs {
    /// NATS server URL (JetStream on).
    #[arg(
        long,
        env = "SELFHARNESS_NATS",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats: String,
    /// Task suite (the validators' must be the same: jobs carry its digest).
    #[arg(long, env = "SELFHARNESS_SUITE", default_value = "tasks")]
    pub suite: PathBuf,
    /// Where run directories (event log, traces, report) are written.
    #[arg(long, env = "SELFHARNESS_RUNS", default_value = "runs")]
    pub runs: PathBuf,
    /// Also serve the run API over gRPC here (with health and reflection), e.g. 0.0.0.0:50051.
    #[arg(long, env = "SELFHARNESS_GRPC")]
    pub grpc: Option<String>,
    /// Serve the live dashboard (runs list, live run pages, reports) and Prometheus /metrics
    /// here, e.g. 0.0.0.0:8080.
    #[arg(long, env = "SELFHARNESS_HTTP")]
    pub http: Option<String>,
    /// Where the miner and proposer run: `nats` (the `selfharness miner` / `selfharness
    /// proposer` services) or `local` (in this process).
    #[arg(long, env = "SELFHARNESS_STAGES", default_value = "nats")]
    pub stages: String,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn coordinator(args: CoordinatorArgs) -> Result<ExitCode> {
    use selfharness_bus::runs::{CoordinatorRpc, RunManager, Settings, Stages};
    let suite = load_suite(&args.suite, true)?;
    let model = models::build(&args.model, &suite)?;
    let stages = match args.stages.as_str() {
        "nats" => Stages::Nats,
        "local" => Stages::Local,
        other => anyhow::bail!("--stages: {other:?} is neither `nats` nor `local`"),
    };
    std::fs::create_dir_all(&args.runs)
        .with_context(|| format!("creating {}", args.runs.display()))?;
    let settings = Settings {
        nats_url: args.nats.clone(),
        suite_digest: selfharness_proto::suite_digest(&suite)?,
        suite,
        model_id: model.id(),
        runs_dir: args.runs.clone(),
        delivery: args.delivery.delivery(),
        stages,
    };
    eprintln!(
        "coordinator: model {}, runs in {}, stages {}, NATS {}",
        settings.model_id,
        args.runs.display(),
        args.stages,
        args.nats
    );
    let hub = match &args.http {
        Some(addr) => {
            let hub = Arc::new(selfharness_web::Hub::new(Some(args.runs.clone())));
            let bound = selfharness_web::spawn(addr, hub.clone())
                .with_context(|| format!("serving the dashboard on {addr}"))?;
            eprintln!("coordinator: dashboard on http://{bound}/ (metrics: /metrics)");
            Some(hub)
        }
        None => None,
    };
    let on_logged: Option<selfharness_bus::runs::OnLogged> = hub.clone().map(|hub| {
        Arc::new(
            move |run: &str, seq: u64, e: &selfharness_coordinator::RunEvent| {
                hub.logged(run, seq, e)
            },
        ) as selfharness_bus::runs::OnLogged
    });
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = selfharness_bus::connect(&args.nats).await?;
        if let Some(hub) = hub {
            tokio::spawn(bus_metrics(client.clone(), args.delivery.delivery(), hub));
        }
        let manager = RunManager::start(client.clone(), settings, on_logged).await?;
        let shutdown = shared(shutdown_signal());
        let services = selfharness_server::Services::new()
            .service(CoordinatorRpc(manager.clone()).into_server());
        let grpc = serve_grpc(
            "coordinator",
            args.grpc.as_deref(),
            services,
            shutdown.clone(),
        );
        let nats = async {
            manager.serve_nats(client, shutdown.clone()).await?;
            anyhow::Ok(())
        };
        let (a, b) = tokio::join!(grpc, nats);
        a.and(b)
    })
    .context("coordinator")?;
    Ok(ExitCode::SUCCESS)
}

/// Keep the dashboard's bus figures current: queue depth and redeliveries from the validators'
/// consumer (every 2 s), dead letters as the server announces them.
async fn bus_metrics(
    client: async_nats::Client,
    delivery: Delivery,
    hub: Arc<selfharness_web::Hub>,
) {
    use futures::StreamExt;
    let mut consumer = match selfharness_bus::assets(client.clone(), delivery).await {
        Ok(a) => a.consumer,
        Err(e) => {
            tracing::warn!(error = %e, "no bus metrics");
            return;
        }
    };
    if let Ok(mut dead) = client
        .subscribe(selfharness_bus::dead_letter_subject())
        .await
    {
        let hub = hub.clone();
        tokio::spawn(async move {
            while dead.next().await.is_some() {
                hub.metrics().add_dead_letters(1);
            }
        });
    }
    loop {
        if let Ok(info) = consumer.info().await {
            hub.metrics()
                .set_queue_depth(info.num_pending + info.num_ack_pending as u64);
            hub.metrics().set_redeliveries(info.num_redelivered as u64);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
