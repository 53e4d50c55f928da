//! The NATS JetStream transport of selfharness. Evaluation jobs go to a work-queue stream that
//! every validator pulls from through one shared durable consumer (adding a validator adds
//! throughput); results go to a durable result stream before their job is acked; harness
//! documents live in a key-value bucket and traces in an object store. Messages are the
//! protobuf messages of `selfharness-proto`. This crate moves messages and nothing else: what an
//! evaluation or a decision is belongs to the domain crates.
//!
//! # Layout
//! - `lib.rs` — names (streams, subjects, buckets), connecting, creating the JetStream assets.
//! - [`backend`] — [`backend::NatsBackend`]: the coordinator's `Backend` over the bus.
//! - [`worker`] — the validator role: pull jobs, evaluate, store the result, ack.
//! - [`stages`] — the miner and proposer roles (request-reply in queue groups) and the
//!   coordinator's clients of them.
//! - [`events`] — run events on their stream: publishing the coordinator's log, restoring it,
//!   following it (WatchRun).
//! - [`runs`] — the coordinator role: the run API (CreateRun, GetRun, ListRuns, WatchRun,
//!   CancelRun) over NATS and gRPC, runs resumed from their event stream after a restart.

pub mod backend;
pub mod events;
pub mod runs;
pub mod stages;
pub mod worker;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use std::time::Duration;

/// Work-queue stream of evaluation jobs (`selfharness.jobs.<run>`).
pub const JOBS: &str = "SELFHARNESS_JOBS";
/// Durable result stream (`selfharness.results.<run>`): the coordinator's source of truth.
pub const RESULTS: &str = "SELFHARNESS_RESULTS";
/// The one durable pull consumer all validators share.
pub const VALIDATORS: &str = "validators";
/// Key-value bucket of harness documents (key = harness id, value = TOML).
pub const HARNESSES: &str = "selfharness_harnesses";
/// Object store of traces (name = trace file name).
pub const TRACES: &str = "selfharness_traces";

pub fn jobs_subject(run: &str) -> String {
    format!("selfharness.jobs.{run}")
}

pub fn results_subject(run: &str) -> String {
    format!("selfharness.results.{run}")
}

/// Advisory the server publishes when a job reached its maximum deliveries.
pub fn dead_letter_subject() -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOBS}.{VALIDATORS}")
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("nats {what}: {reason}")]
    Nats { what: String, reason: String },
    #[error(transparent)]
    Proto(#[from] selfharness_proto::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How jobs are redelivered: a job not acked within `ack_wait` (validators send progress acks
/// while they work, so only a dead or stuck validator lets it lapse) is redelivered, at most
/// `max_deliver` times; then it is dead-lettered.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub ack_wait: Duration,
    pub max_deliver: i64,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            ack_wait: Duration::from_secs(30),
            max_deliver: 3,
        }
    }
}

/// Connect, retrying while the server is not up yet (containers start in any order), and
/// reconnecting for ever when it goes away (a restarted server with its store on disk).
pub async fn connect(url: &str) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| Error::Nats {
            what: format!("connecting to {url}"),
            reason: e.to_string(),
        })
}

/// Everything on the bus a role needs, created if missing (idempotent; every role calls it).
pub struct Assets {
    pub js: jetstream::Context,
    pub jobs: stream::Stream,
    pub results: stream::Stream,
    pub consumer: consumer::PullConsumer,
    pub harnesses: kv::Store,
    pub traces: object_store::ObjectStore,
}

/// The trace object store, created if missing.
pub async fn trace_store(js: &jetstream::Context) -> Result<object_store::ObjectStore> {
    match js.get_object_store(TRACES).await {
        Ok(s) => Ok(s),
        Err(_) => js
            .create_object_store(object_store::Config {
                bucket: TRACES.into(),
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Nats {
                what: "creating the trace store".into(),
                reason: e.to_string(),
            }),
    }
}

pub async fn assets(client: async_nats::Client, delivery: Delivery) -> Result<Assets> {
    let js = jetstream::new(client);
    let e = |what: &str| {
        let what = what.to_string();
        move |err: Box<dyn std::error::Error + Send + Sync>| Error::Nats {
            what,
            reason: err.to_string(),
        }
    };
    let jobs = js
        .get_or_create_stream(stream::Config {
            name: JOBS.into(),
            subjects: vec!["selfharness.jobs.>".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|x| e("creating the job stream")(x.into()))?;
    let results = js
        .get_or_create_stream(stream::Config {
            name: RESULTS.into(),
            subjects: vec!["selfharness.results.>".into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|x| e("creating the result stream")(x.into()))?;
    let consumer = jobs
        .get_or_create_consumer(
            VALIDATORS,
            consumer::pull::Config {
                durable_name: Some(VALIDATORS.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: delivery.ack_wait,
                max_deliver: delivery.max_deliver,
                max_ack_pending: 10_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|x| e("creating the validators' consumer")(x.into()))?;
    let harnesses = match js.get_key_value(HARNESSES).await {
        Ok(kv) => kv,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: HARNESSES.into(),
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|x| e("creating the harness bucket")(x.into()))?,
    };
    let traces = trace_store(&js).await?;
    Ok(Assets {
        js,
        jobs,
        results,
        consumer,
        harnesses,
        traces,
    })
}
