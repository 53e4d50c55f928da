//! gRPC adapters of the selfharness stages: each serves one service of the `selfharness.v1`
//! contract by doing four things — decode the request (refusing it with `INVALID_ARGUMENT`
//! naming the field), open a `tracing` span, call the stage, encode the answer or map the
//! error. Every server also answers gRPC health and reflection, so `grpcurl list` works.
//!
//! This crate must never hold domain logic (mining, proposing, validating, scheduling): it
//! only translates between the wire and the stage crates. Blocking stage calls run on
//! `spawn_blocking`, never on the async runtime's threads.
//!
//! # Layout
//! - [`miner`] — `Miner.Mine` → `selfharness_miner::mine`.
//! - [`proposer`] — `Proposer.Propose` → a `selfharness_proposer::Proposer` (the catalogue by
//!   default).
//! - [`validator`] — `Validator.Evaluate` → `selfharness_core::eval::evaluate`, with the model,
//!   suite and directories the server holds.
//! - [`store`] — [`HarnessStore`]: where a validator finds harness documents by id.
//! - [`serve`](mod@serve) — [`Services`] and [`serve()`]: one listener, the chosen services,
//!   health and reflection, graceful shutdown.

// `tonic::Status` (176 bytes) is the error of every gRPC handler; boxing it would only move
// the allocation into each adapter.
#![allow(clippy::result_large_err)]

pub mod miner;
pub mod proposer;
pub mod serve;
pub mod store;
pub mod validator;

pub use miner::MinerService;
pub use proposer::ProposerService;
pub use serve::{serve, Services};
pub use store::{HarnessStore, MemoryHarnessStore, StoreError};
pub use validator::ValidatorService;

use tonic::{Request, Status};
use tracing::Span;

/// Largest request a server accepts. Mine requests carry traces inline (a generation's train
/// traces can reach tens of MiB); tonic's default of 4 MiB would refuse them.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error(transparent)]
    Contract(#[from] selfharness_proto::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The span of one call: the method, the caller, the W3C `traceparent` it propagated (so the
/// caller's trace and ours can be joined), and, once decoded, its `subject` (e.g. the
/// evaluation key).
fn request_span<T>(method: &'static str, req: &Request<T>) -> Span {
    let traceparent = req
        .metadata()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "grpc",
        rpc = method,
        remote = ?req.remote_addr(),
        traceparent = %traceparent,
        subject = tracing::field::Empty,
    )
}

/// Decode a request message, logging a refusal in `span`.
fn decode<T: selfharness_proto::FromProto>(span: &Span, p: &T::Proto) -> Result<T, Status> {
    T::from_proto(p).map_err(|e| {
        span.in_scope(|| tracing::warn!(error = %e, "request refused"));
        Status::from(e)
    })
}

/// Refuse a call with `status`, logging it in `span`.
fn refuse(span: &Span, status: Status) -> Status {
    span.in_scope(
        || tracing::warn!(code = ?status.code(), error = status.message(), "request refused"),
    );
    status
}

/// Run a blocking stage call off the async runtime, inside `span`.
async fn blocking<T: Send + 'static>(
    span: Span,
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| Status::internal(format!("{what} did not finish: {e}")))
}
