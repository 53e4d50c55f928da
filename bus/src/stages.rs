//! The miner and proposer stages over NATS: core request-reply on subjects named after their
//! service methods (`selfharness.v1.Miner.Mine`, `selfharness.v1.Proposer.Propose`), served by
//! queue groups so that several miners or proposers share the load, with protobuf bodies and
//! failures said in the `Selfharness-Error` header (see `proto/README.md`, "Over NATS"). Also the
//! coordinator's clients of them: [`NatsMiner`] and [`NatsProposer`]. This module carries
//! requests and replies; mining and proposing themselves are the domain crates' functions.

use crate::{Error, Result, TRACES};
use async_nats::jetstream::{self, object_store::ObjectStore};
use async_nats::{HeaderMap, Message};
use bytes::Bytes;
use futures::StreamExt;
use prost::Message as _;
use selfharness_coordinator::Backend;
use selfharness_core::trace::Trace;
use selfharness_miner::Weakness;
use selfharness_proposer::{Catalogue, ProposeRequest, ProposeResponse, Proposer, Rejection};
use selfharness_proto::convert::{self, MineInput, ProposeInput};
use selfharness_proto::{v1, FromProto, ToProto};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

pub const MINE: &str = "selfharness.v1.Miner.Mine";
pub const PROPOSE: &str = "selfharness.v1.Proposer.Propose";
pub const MINERS: &str = "selfharness-miners";
pub const PROPOSERS: &str = "selfharness-proposers";
/// Header of a failed reply: `<gRPC code name>: <message>`.
pub const ERROR_HEADER: &str = "Selfharness-Error";

/// Why a request failed, as the reply says it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// gRPC code name: `INVALID_ARGUMENT`, `NOT_FOUND`, `INTERNAL`, …
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            code: "INVALID_ARGUMENT",
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure {
            code: "NOT_FOUND",
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Failure {
        Failure {
            code: "INTERNAL",
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Decode a request body, naming the message on failure.
pub fn decode<M: prost::Message + Default>(
    message: &'static str,
    body: &[u8],
) -> Result<M, Failure> {
    convert::decode::<M>(message, body).map_err(|e| Failure::invalid(e.to_string()))
}

/// Serve requests on `subject` in queue group `queue`, each answered by `handle` (requests run
/// concurrently), until `shutdown` completes.
pub async fn serve<H, F>(
    client: async_nats::Client,
    subject: &str,
    queue: &str,
    handle: H,
    shutdown: impl Future<Output = ()>,
) -> Result<()>
where
    H: Fn(Bytes) -> F + Send + Sync + 'static,
    F: Future<Output = std::result::Result<Vec<u8>, Failure>> + Send + 'static,
{
    let mut sub = client
        .queue_subscribe(subject.to_string(), queue.to_string())
        .await
        .map_err(|e| Error::Nats {
            what: format!("subscribing to {subject}"),
            reason: e.to_string(),
        })?;
    tracing::info!(subject, queue, "serving");
    let handle = Arc::new(handle);
    tokio::pin!(shutdown);
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m { Some(m) => m, None => break },
            _ = &mut shutdown => break,
        };
        let (client, handle, subject) = (client.clone(), handle.clone(), subject.to_string());
        tokio::spawn(async move {
            let Some(reply) = msg.reply.clone() else {
                tracing::warn!(%subject, "request without a reply subject ignored");
                return;
            };
            let t0 = Instant::now();
            let answer = handle(msg.payload).await;
            let sent = match &answer {
                Ok(body) => client.publish(reply, body.clone().into()).await,
                Err(f) => {
                    tracing::warn!(%subject, failure = %f, "request failed");
                    let mut headers = HeaderMap::new();
                    headers.insert(ERROR_HEADER, one_line(&f.to_string()).as_str());
                    client
                        .publish_with_headers(reply, headers, Bytes::new())
                        .await
                }
            };
            if let Err(e) = sent {
                tracing::warn!(%subject, error = %e, "reply not sent");
            }
            tracing::info!(%subject, ok = answer.is_ok(), ms = t0.elapsed().as_millis() as u64, "answered");
        });
    }
    let _ = sub.unsubscribe().await;
    Ok(())
}

/// Header values are one line.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// The miner role: answer `Mine` requests, fetching referenced traces from the trace store.
pub async fn serve_miner(
    client: async_nats::Client,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let traces = crate::trace_store(&jetstream::new(client.clone())).await?;
    serve(
        client,
        MINE,
        MINERS,
        move |body| {
            let traces = traces.clone();
            async move { mine_request(&traces, &body).await }
        },
        shutdown,
    )
    .await
}

/// One `Mine` request: decode, resolve trace refs, mine off the runtime, encode.
pub async fn mine_request(traces: &ObjectStore, body: &[u8]) -> Result<Vec<u8>, Failure> {
    let p: v1::MineRequest = decode("MineRequest", body)?;
    let mut input = MineInput::from_proto(&p).map_err(|e| Failure::invalid(e.to_string()))?;
    for (i, name) in std::mem::take(&mut input.trace_refs).iter().enumerate() {
        input.traces.push(fetch_trace(traces, i, name).await?);
    }
    let weaknesses = tokio::task::spawn_blocking(move || {
        let w = selfharness_miner::mine(&input.request());
        tracing::info!(traces = input.traces.len(), weaknesses = w.len(), "mined");
        w
    })
    .await
    .map_err(|e| Failure::internal(format!("mining: {e}")))?;
    Ok(weaknesses.to_proto().encode_to_vec())
}

async fn fetch_trace(traces: &ObjectStore, i: usize, name: &str) -> Result<Trace, Failure> {
    let at = format!("MineRequest: field `trace_refs[{i}]`");
    let mut obj = traces.get(name).await.map_err(|e| {
        tracing::debug!(error = %e, object = name, "trace not fetched");
        Failure::not_found(format!("{at}: no object {name:?} in {TRACES}"))
    })?;
    let mut text = String::new();
    obj.read_to_string(&mut text)
        .await
        .map_err(|e| Failure::internal(format!("{at}: reading {name:?}: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::invalid(format!("{at}: {name:?} is not a trace: {e}")))
}

/// The proposer role: answer `Propose` requests with `proposer`.
pub async fn serve_proposer(
    client: async_nats::Client,
    proposer: Arc<dyn Proposer + Send + Sync>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    serve(
        client,
        PROPOSE,
        PROPOSERS,
        move |body| {
            let proposer = proposer.clone();
            async move { propose_request(proposer, &body).await }
        },
        shutdown,
    )
    .await
}

/// One `Propose` request: decode, propose off the runtime, encode.
pub async fn propose_request(
    proposer: Arc<dyn Proposer + Send + Sync>,
    body: &[u8],
) -> Result<Vec<u8>, Failure> {
    let p: v1::ProposeRequest = decode("ProposeRequest", body)?;
    let input = ProposeInput::from_proto(&p).map_err(|e| Failure::invalid(e.to_string()))?;
    let r = tokio::task::spawn_blocking(move || {
        let r = proposer.propose(&input.request());
        tracing::info!(
            champion = %input.champion.id(),
            weaknesses = input.weaknesses.len(),
            proposals = r.proposals.len(),
            rejected = r.rejected.len(),
            "proposed"
        );
        r
    })
    .await
    .map_err(|e| Failure::internal(format!("proposing: {e}")))?;
    Ok(r.to_proto().encode_to_vec())
}

/// A blocking caller of a stage over NATS, for the (synchronous) coordinator. While no stage
/// answers (none started yet, or all restarting) it waits and retries, up to `patience`;
/// requests are pure functions of their body, so a retry is harmless.
pub struct StageClient {
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
    /// How long one request may take (mining a large train split can take a while).
    pub timeout: Duration,
    /// How long to keep retrying while no stage answers.
    pub patience: Duration,
}

impl StageClient {
    pub fn connect(url: &str) -> Result<StageClient> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let client = rt.block_on(crate::connect(url))?;
        Ok(StageClient {
            rt,
            client,
            timeout: Duration::from_secs(300),
            patience: Duration::from_secs(600),
        })
    }

    /// Send `body` to `subject`; the reply body, or the failure in words.
    pub fn call(&self, subject: &str, body: Vec<u8>) -> std::result::Result<Bytes, String> {
        let t0 = Instant::now();
        let mut warned = false;
        loop {
            let req = async_nats::Request::new()
                .payload(body.clone().into())
                .timeout(Some(self.timeout));
            let r = self
                .rt
                .block_on(self.client.send_request(subject.to_string(), req));
            let retry = match r {
                Ok(msg) => return reply(subject, msg),
                Err(e) => match e.kind() {
                    async_nats::RequestErrorKind::NoResponders => "no stage is serving it",
                    async_nats::RequestErrorKind::TimedOut => "no answer in time",
                    async_nats::RequestErrorKind::Other => "the connection failed",
                },
            };
            if t0.elapsed() > self.patience {
                return Err(format!(
                    "{subject}: {retry}, and still so after {} s",
                    self.patience.as_secs()
                ));
            }
            if !warned {
                tracing::warn!(subject, why = retry, "waiting for a stage to answer");
                warned = true;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// A reply's body, or the failure its `Selfharness-Error` header names.
pub(crate) fn reply(subject: &str, msg: Message) -> std::result::Result<Bytes, String> {
    if let Some(err) = msg.headers.as_ref().and_then(|h| h.get(ERROR_HEADER)) {
        return Err(format!("{subject}: {err}"));
    }
    Ok(msg.payload)
}

/// The coordinator's miner over NATS: sends trace refs (validators put every trace in the trace
/// store), so a request stays small whatever the number of traces.
pub struct NatsMiner(pub StageClient);

impl selfharness_coordinator::Miner for NatsMiner {
    fn mine(
        &self,
        _backend: &dyn Backend,
        traces: &[String],
        instructions: &BTreeMap<String, String>,
    ) -> std::result::Result<Vec<Weakness>, String> {
        let req = v1::MineRequest {
            traces: Vec::new(),
            instructions: instructions.clone(),
            trace_refs: traces.to_vec(),
        };
        let body = self.0.call(MINE, req.encode_to_vec())?;
        let resp: v1::MineResponse =
            convert::decode("MineResponse", &body).map_err(|e| format!("{MINE}: {e}"))?;
        Vec::<Weakness>::from_proto(&resp).map_err(|e| format!("{MINE}: {e}"))
    }
}

/// The coordinator's proposer over NATS. A failed call becomes one rejection saying why (the
/// generation then has nothing to validate and the run goes on).
pub struct NatsProposer(pub StageClient);

impl Proposer for NatsProposer {
    fn propose(&self, req: &ProposeRequest) -> ProposeResponse {
        let answer = self
            .0
            .call(PROPOSE, req.to_proto().encode_to_vec())
            .and_then(|body| {
                convert::decode::<v1::ProposeResponse>("ProposeResponse", &body)
                    .and_then(|r| ProposeResponse::from_proto(&r))
                    .map_err(|e| format!("{PROPOSE}: {e}"))
            });
        answer.unwrap_or_else(|reason| ProposeResponse {
            proposals: Vec::new(),
            rejected: vec![Rejection {
                weakness: None,
                reason: format!("proposer stage failed: {reason}"),
            }],
        })
    }
}

/// The built-in proposer for the proposer role.
pub fn catalogue() -> Arc<dyn Proposer + Send + Sync> {
    Arc::new(Catalogue)
}
