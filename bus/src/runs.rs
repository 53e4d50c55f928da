//! The coordinator role: [`RunManager`] runs the loop for every run asked of it and answers
//! the run API (CreateRun, GetRun, ListRuns, WatchRun, CancelRun) over NATS request-reply
//! (`selfharness.v1.Coordinator.*`, queue group `selfharness-coordinators`) and over gRPC
//! ([`CoordinatorRpc`]). Each run evaluates on the validators through [`NatsBackend`], mines
//! and proposes through the miner and proposer services (or in this process), and its event
//! log is copied to the event stream; a run request is kept in the key-value bucket
//! `selfharness_runs`, so a restarted coordinator restores each unfinished run's log from the
//! stream and resumes it to the same champion. The loop itself is `selfharness_coordinator`'s.

use crate::backend::NatsBackend;
use crate::events::{self, Publisher};
use crate::stages::{self, Failure, NatsMiner, NatsProposer, StageClient};
use crate::{Delivery, Error, Result};
use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use futures::StreamExt;
use prost::Message as _;
use selfharness_coordinator::report::json::Summary;
use selfharness_coordinator::report::{self, RunData};
use selfharness_coordinator::{Coordinator, LocalMiner, Miner, RunEvent};
use selfharness_core::task::Suite;
use selfharness_proposer::{Catalogue, Proposer};
use selfharness_proto::convert::{self, CreateRun};
use selfharness_proto::{v1, FromProto, ToProto};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Key-value bucket of run requests (key: run id, value: the `CreateRunRequest`).
pub const RUNS: &str = "selfharness_runs";
pub const COORDINATORS: &str = "selfharness-coordinators";
pub const CREATE_RUN: &str = "selfharness.v1.Coordinator.CreateRun";
pub const GET_RUN: &str = "selfharness.v1.Coordinator.GetRun";
pub const LIST_RUNS: &str = "selfharness.v1.Coordinator.ListRuns";
pub const CANCEL_RUN: &str = "selfharness.v1.Coordinator.CancelRun";

/// Where a run's miner and proposer are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stages {
    /// The miner and proposer services, over NATS.
    Nats,
    /// In this process.
    Local,
}

/// What every run of this coordinator shares.
pub struct Settings {
    pub nats_url: String,
    pub suite: Suite,
    pub suite_digest: String,
    /// The model the validators run (part of every evaluation key).
    pub model_id: String,
    /// Run directories go here (`<runs>/<run id>`).
    pub runs_dir: PathBuf,
    pub delivery: Delivery,
    pub stages: Stages,
}

/// Called with every event a run logs: (run id, seq, event) — the live dashboard's feed.
pub type OnLogged = Arc<dyn Fn(&str, u64, &RunEvent) + Send + Sync>;

struct Live {
    cancel: selfharness_coordinator::Cancel,
    done: Arc<AtomicBool>,
}

pub struct RunManager {
    settings: Settings,
    rt: tokio::runtime::Handle,
    js: jetstream::Context,
    requests: kv::Store,
    events: stream::Stream,
    live: Mutex<BTreeMap<String, Live>>,
    on_logged: Option<OnLogged>,
}

impl RunManager {
    /// Set up on the bus and resume every run that has not finished. Call inside a runtime.
    pub async fn start(
        client: async_nats::Client,
        settings: Settings,
        on_logged: Option<OnLogged>,
    ) -> Result<Arc<RunManager>> {
        let js = jetstream::new(client);
        let requests = match js.get_key_value(RUNS).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: RUNS.into(),
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| Error::Nats {
                    what: "creating the run bucket".into(),
                    reason: e.to_string(),
                })?,
        };
        let events = events::events_stream(&js).await?;
        let m = Arc::new(RunManager {
            settings,
            rt: tokio::runtime::Handle::current(),
            js,
            requests,
            events,
            live: Mutex::new(BTreeMap::new()),
            on_logged,
        });
        for id in m.ids().await? {
            let last = match events::last(&m.events, &id).await {
                Ok(e) => e,
                Err(e @ Error::Proto(_)) => return Err(e),
                Err(_) => None,
            };
            if last.is_some_and(|e| e.event_type == "finished") {
                continue;
            }
            match m.request(&id).await {
                Ok(req) => {
                    tracing::info!(run = %id, "resuming an unfinished run");
                    m.spawn(id, req);
                }
                Err(f) => tracing::error!(run = %id, failure = %f, "cannot resume run"),
            }
        }
        Ok(m)
    }

    async fn ids(&self) -> Result<Vec<String>> {
        let mut keys = match self.requests.keys().await {
            Ok(k) => k,
            Err(e) => {
                return Err(Error::Nats {
                    what: "listing runs".into(),
                    reason: e.to_string(),
                })
            }
        };
        let mut ids = Vec::new();
        while let Some(k) = keys.next().await {
            if let Ok(k) = k {
                ids.push(k);
            }
        }
        ids.sort();
        Ok(ids)
    }

    async fn request(&self, id: &str) -> std::result::Result<CreateRun, Failure> {
        let entry = self
            .requests
            .get(id)
            .await
            .map_err(|e| Failure::internal(format!("reading run {id}: {e}")))?
            .ok_or_else(|| Failure::not_found(format!("no run {id:?}")))?;
        let p: v1::CreateRunRequest = stages::decode("CreateRunRequest", &entry)?;
        CreateRun::from_proto(&p).map_err(|e| Failure::invalid(e.to_string()))
    }

    fn run_dir(&self, id: &str) -> PathBuf {
        self.settings.runs_dir.join(id)
    }

    /// Start a run; answers once its request is stored.
    pub async fn create(
        self: &Arc<Self>,
        p: &v1::CreateRunRequest,
    ) -> std::result::Result<v1::Run, Failure> {
        let req = CreateRun::from_proto(p).map_err(|e| Failure::invalid(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let id = format!(
            "run-{}-{:04x}",
            now.as_secs(),
            now.subsec_nanos() as u16 ^ std::process::id() as u16
        );
        self.requests
            .put(&id, req.to_proto().encode_to_vec().into())
            .await
            .map_err(|e| Failure::internal(format!("storing run {id}: {e}")))?;
        tracing::info!(run = %id, "run created");
        self.spawn(id.clone(), req);
        self.get(&id).await
    }

    /// Run `id` on its own thread (the loop is synchronous).
    fn spawn(self: &Arc<Self>, id: String, req: CreateRun) {
        let live = Live {
            cancel: Arc::new(Mutex::new(None)),
            done: Arc::new(AtomicBool::new(false)),
        };
        let (cancel, done) = (live.cancel.clone(), live.done.clone());
        self.live.lock().expect("runs").insert(id.clone(), live);
        let me = self.clone();
        std::thread::Builder::new()
            .name(format!("run {id}"))
            .spawn(move || {
                if let Err(e) = me.run(&id, req, cancel) {
                    tracing::error!(run = %id, error = %e, "run stopped on an error");
                }
                done.store(true, Ordering::SeqCst);
            })
            .expect("a thread for the run");
    }

    /// The loop of run `id`: restore its log from the stream, run (or resume) it, publish its
    /// events.
    fn run(&self, id: &str, req: CreateRun, cancel: selfharness_coordinator::Cancel) -> Result<()> {
        let s = &self.settings;
        let dir = self.run_dir(id);
        let missing = self.rt.block_on(events::restore(&self.events, id, &dir))?;
        let publisher = Publisher::start(&self.rt, self.js.clone(), id);
        for (seq, e) in &missing {
            publisher.publish(*seq, e);
        }
        let backend = NatsBackend::connect(
            &s.nats_url,
            id,
            s.model_id.clone(),
            s.suite_digest.clone(),
            dir.join("traces"),
            s.delivery,
        )?;
        let (miner, proposer): (Box<dyn Miner>, Box<dyn Proposer>) = match s.stages {
            Stages::Nats => (
                Box::new(NatsMiner(StageClient::connect(&s.nats_url)?)),
                Box::new(NatsProposer(StageClient::connect(&s.nats_url)?)),
            ),
            Stages::Local => (Box::new(LocalMiner), Box::new(Catalogue)),
        };
        let mut policy = req.policy.clone();
        policy.guard_suite(&s.suite);
        let mut c = Coordinator::new(
            req.config.clone(),
            s.suite.clone(),
            policy,
            req.baseline.clone(),
            &backend,
            dir,
        );
        c.miner = miner;
        c.proposer = proposer;
        c.cancel = cancel;
        let hook = self.on_logged.clone();
        let p = publisher.clone();
        let run = id.to_string();
        c.on_logged = Box::new(move |seq, e| {
            p.publish(seq, e);
            if let Some(h) = &hook {
                h(&run, seq, e);
            }
        });
        let outcome = c.run();
        publisher.flush();
        let outcome = outcome.map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        tracing::info!(run = %id, champion = %outcome.champion.id(), reason = %outcome.reason, "run finished");
        Ok(())
    }

    /// The run as its event log tells it.
    pub async fn get(&self, id: &str) -> std::result::Result<v1::Run, Failure> {
        if self.requests.get(id).await.ok().flatten().is_none() {
            return Err(Failure::not_found(format!("no run {id:?}")));
        }
        let log = self.run_dir(id).join("events.jsonl");
        let (data, last_seq) = match std::fs::read_to_string(&log) {
            Ok(text) => {
                let events: Vec<RunEvent> = text
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                let n = events.len() as u64;
                (RunData::from_events(events), n)
            }
            // Another coordinator's run: read its log from the stream.
            Err(_) => {
                let evs = events::read(&self.events, id, 0)
                    .await
                    .map_err(|e| Failure::internal(e.to_string()))?;
                let n = evs.len() as u64;
                let events = evs
                    .iter()
                    .filter_map(|e| RunEvent::from_proto(e).ok())
                    .collect::<Vec<_>>();
                (RunData::from_events(events), n)
            }
        };
        let running = self
            .live
            .lock()
            .expect("runs")
            .get(id)
            .is_some_and(|l| !l.done.load(Ordering::SeqCst));
        let status = if data.is_finished() {
            match &data.stopped {
                Some(r) if r.starts_with("cancelled") => v1::RunStatus::Cancelled,
                _ => v1::RunStatus::Finished,
            }
        } else if running {
            v1::RunStatus::Running
        } else {
            v1::RunStatus::Incomplete
        };
        Ok(convert::run(id, status, last_seq, &Summary::of(&data)))
    }

    /// Every run, newest first.
    pub async fn list(&self) -> std::result::Result<v1::ListRunsResponse, Failure> {
        let mut ids = self
            .ids()
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        ids.reverse();
        let mut runs = Vec::new();
        for id in ids {
            let mut r = self.get(&id).await?;
            r.generations.clear();
            runs.push(r);
        }
        Ok(v1::ListRunsResponse { runs })
    }

    /// Stop run `id` at its next decision point.
    pub async fn cancel(&self, id: &str, reason: &str) -> std::result::Result<v1::Run, Failure> {
        let found = match self.live.lock().expect("runs").get(id) {
            Some(l) => {
                let why = if reason.is_empty() {
                    "cancelled by request"
                } else {
                    reason
                };
                *l.cancel.lock().expect("cancel") = Some(why.to_string());
                true
            }
            None => false,
        };
        if !found {
            return Err(Failure {
                code: "FAILED_PRECONDITION",
                message: format!("run {id:?} is not running on this coordinator"),
            });
        }
        self.get(id).await
    }

    /// `id`'s events after `after`, then live until it finishes.
    pub fn watch(&self, id: &str, after: u64) -> tokio::sync::mpsc::Receiver<v1::RunEvent> {
        let _guard = self.rt.enter();
        events::follow(self.events.clone(), id.to_string(), after)
    }

    /// Answer the run API over NATS until `shutdown`.
    pub async fn serve_nats(
        self: &Arc<Self>,
        client: async_nats::Client,
        shutdown: impl Future<Output = ()> + Send + Clone + 'static,
    ) -> Result<()> {
        let m = self.clone();
        let create = stages::serve(
            client.clone(),
            CREATE_RUN,
            COORDINATORS,
            move |body: Bytes| {
                let m = m.clone();
                async move {
                    let p: v1::CreateRunRequest = stages::decode("CreateRunRequest", &body)?;
                    Ok(m.create(&p).await?.encode_to_vec())
                }
            },
            shutdown.clone(),
        );
        let m = self.clone();
        let get = stages::serve(
            client.clone(),
            GET_RUN,
            COORDINATORS,
            move |body: Bytes| {
                let m = m.clone();
                async move {
                    let p: v1::GetRunRequest = stages::decode("GetRunRequest", &body)?;
                    Ok(m.get(&p.run_id).await?.encode_to_vec())
                }
            },
            shutdown.clone(),
        );
        let m = self.clone();
        let list = stages::serve(
            client.clone(),
            LIST_RUNS,
            COORDINATORS,
            move |_body: Bytes| {
                let m = m.clone();
                async move { Ok(m.list().await?.encode_to_vec()) }
            },
            shutdown.clone(),
        );
        let m = self.clone();
        let cancel = stages::serve(
            client,
            CANCEL_RUN,
            COORDINATORS,
            move |body: Bytes| {
                let m = m.clone();
                async move {
                    let p: v1::CancelRunRequest = stages::decode("CancelRunRequest", &body)?;
                    Ok(m.cancel(&p.run_id, &p.reason).await?.encode_to_vec())
                }
            },
            shutdown,
        );
        let (a, b, c, d) = tokio::join!(create, get, list, cancel);
        a.and(b).and(c).and(d)
    }
}

fn status(f: Failure) -> tonic::Status {
    let code = match f.code {
        "INVALID_ARGUMENT" => tonic::Code::InvalidArgument,
        "NOT_FOUND" => tonic::Code::NotFound,
        "FAILED_PRECONDITION" => tonic::Code::FailedPrecondition,
        _ => tonic::Code::Internal,
    };
    tonic::Status::new(code, f.message)
}

/// The run API over gRPC (`selfharness.v1.Coordinator`).
#[derive(Clone)]
pub struct CoordinatorRpc(pub Arc<RunManager>);

impl CoordinatorRpc {
    pub fn into_server(self) -> v1::coordinator_server::CoordinatorServer<Self> {
        v1::coordinator_server::CoordinatorServer::new(self)
    }
}

#[tonic::async_trait]
impl v1::coordinator_server::Coordinator for CoordinatorRpc {
    async fn create_run(
        &self,
        r: tonic::Request<v1::CreateRunRequest>,
    ) -> std::result::Result<tonic::Response<v1::Run>, tonic::Status> {
        self.0
            .create(r.get_ref())
            .await
            .map(tonic::Response::new)
            .map_err(status)
    }

    async fn get_run(
        &self,
        r: tonic::Request<v1::GetRunRequest>,
    ) -> std::result::Result<tonic::Response<v1::Run>, tonic::Status> {
        self.0
            .get(&r.get_ref().run_id)
            .await
            .map(tonic::Response::new)
            .map_err(status)
    }

    async fn list_runs(
        &self,
        _r: tonic::Request<v1::ListRunsRequest>,
    ) -> std::result::Result<tonic::Response<v1::ListRunsResponse>, tonic::Status> {
        self.0
            .list()
            .await
            .map(tonic::Response::new)
            .map_err(status)
    }

    type WatchRunStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = std::result::Result<v1::RunEvent, tonic::Status>> + Send>,
    >;

    async fn watch_run(
        &self,
        r: tonic::Request<v1::WatchRunRequest>,
    ) -> std::result::Result<tonic::Response<Self::WatchRunStream>, tonic::Status> {
        let r = r.get_ref();
        self.0.get(&r.run_id).await.map_err(status)?;
        let rx = self.0.watch(&r.run_id, r.after_seq);
        let s = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok);
        Ok(tonic::Response::new(Box::pin(s)))
    }

    async fn cancel_run(
        &self,
        r: tonic::Request<v1::CancelRunRequest>,
    ) -> std::result::Result<tonic::Response<v1::Run>, tonic::Status> {
        let r = r.get_ref();
        self.0
            .cancel(&r.run_id, &r.reason)
            .await
            .map(tonic::Response::new)
            .map_err(status)
    }
}

/// A client of the run API over NATS (what `selfharness run --nats` uses).
pub struct RunClient {
    client: async_nats::Client,
    events: stream::Stream,
}

impl RunClient {
    pub async fn connect(url: &str) -> Result<RunClient> {
        let client = crate::connect(url).await?;
        let events = events::events_stream(&jetstream::new(client.clone())).await?;
        Ok(RunClient { client, events })
    }

    /// One request; while no coordinator answers (none started yet, or restarting) it waits
    /// and retries for up to a minute.
    async fn call<M: prost::Message + Default>(
        &self,
        subject: &str,
        body: Vec<u8>,
        reply: &'static str,
    ) -> std::result::Result<M, String> {
        let t0 = std::time::Instant::now();
        let msg = loop {
            let req = async_nats::Request::new()
                .payload(body.clone().into())
                .timeout(Some(std::time::Duration::from_secs(30)));
            match self.client.send_request(subject.to_string(), req).await {
                Ok(m) => break m,
                Err(e)
                    if e.kind() == async_nats::RequestErrorKind::NoResponders
                        && t0.elapsed() < std::time::Duration::from_secs(60) =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await
                }
                Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                    return Err(format!(
                        "{subject}: no coordinator is serving (start `selfharness coordinator`)"
                    ))
                }
                Err(e) => return Err(format!("{subject}: {e}")),
            }
        };
        let body = stages::reply(subject, msg)?;
        convert::decode::<M>(reply, &body).map_err(|e| e.to_string())
    }

    pub async fn create(&self, req: &CreateRun) -> std::result::Result<v1::Run, String> {
        self.call(CREATE_RUN, req.to_proto().encode_to_vec(), "Run")
            .await
    }

    pub async fn get(&self, id: &str) -> std::result::Result<v1::Run, String> {
        let req = v1::GetRunRequest {
            run_id: id.to_string(),
        };
        self.call(GET_RUN, req.encode_to_vec(), "Run").await
    }

    pub async fn list(&self) -> std::result::Result<v1::ListRunsResponse, String> {
        self.call(LIST_RUNS, Vec::new(), "ListRunsResponse").await
    }

    pub async fn cancel(&self, id: &str, reason: &str) -> std::result::Result<v1::Run, String> {
        let req = v1::CancelRunRequest {
            run_id: id.to_string(),
            reason: reason.to_string(),
        };
        self.call(CANCEL_RUN, req.encode_to_vec(), "Run").await
    }

    /// The run's events after `after`, live until it finishes.
    pub fn watch(&self, id: &str, after: u64) -> tokio::sync::mpsc::Receiver<v1::RunEvent> {
        events::follow(self.events.clone(), id.to_string(), after)
    }

    /// Fetch every trace `data` cites from the trace store into `dir/traces`, so the client's
    /// copy of a cluster run has its trace pages. Returns how many of them are there now.
    pub async fn fetch_cited_traces(&self, data: &RunData, dir: &std::path::Path) -> Result<usize> {
        let store = crate::trace_store(&jetstream::new(self.client.clone())).await?;
        let traces = dir.join("traces");
        std::fs::create_dir_all(&traces)?;
        let mut n = 0;
        for key in data.cited_traces().keys() {
            let file = data.trace_file(key);
            if !report::safe_name(&file) {
                continue;
            }
            match crate::backend::fetch_trace(&store, &traces, &file).await {
                Ok(()) => n += 1,
                Err(e) => tracing::warn!(trace = %file, error = %e, "trace not fetched"),
            }
        }
        Ok(n)
    }
}
