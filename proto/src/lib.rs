//! The `selfharness.v1` contract: generated protobuf messages and gRPC services, and the mapping
//! between them and the domain types of the stage crates. Transport adapters (gRPC, NATS)
//! encode and decode with this crate and nothing else. It must never hold domain logic: no
//! mining, proposing, validating or scheduling happens here, only translation and the checks
//! protobuf's type system cannot express (a field present, an enum in range, a document that
//! parses).
//!
//! The stage crates (`core`, `miner`, `proposer`, `validator`, `coordinator`) must never depend
//! on this crate: it depends on all of them.
//!
//! # Layout
//! - [`v1`] — the generated code (from `selfharness/v1/*.proto`, by protox + tonic-build).
//! - [`convert`] — domain ↔ proto ([`ToProto`], [`FromProto`]), with errors naming the message
//!   and field at fault.
//! - [`status`] — errors (ours and the domain's) as `tonic::Status`.
//! - [`digest`] — the suite digest a validator compares before running a job.

pub mod convert;
pub mod digest;
pub mod status;

pub use convert::{FromProto, ToProto};
pub use digest::suite_digest;

/// Generated from `selfharness/v1/*.proto`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("selfharness.v1");
}

/// The encoded file descriptor set of the contract (for gRPC reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/selfharness_v1_descriptor.bin"));

/// Fully qualified names of the contract's services.
pub mod service_names {
    pub const MINER: &str = "selfharness.v1.Miner";
    pub const PROPOSER: &str = "selfharness.v1.Proposer";
    pub const VALIDATOR: &str = "selfharness.v1.Validator";
    pub const COORDINATOR: &str = "selfharness.v1.Coordinator";
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A message that decoded but means nothing valid. `field` is a path from `message`
    /// (`weaknesses[2].evidence[0].trace`) so the sender can find it.
    #[error("{message}: field `{field}`: {reason}")]
    Field {
        message: &'static str,
        field: String,
        reason: String,
    },
    /// Bytes that are not the protobuf encoding of `message`.
    #[error("decoding {message}: {source}")]
    Decode {
        message: &'static str,
        #[source]
        source: prost::DecodeError,
    },
    /// A file of the suite could not be read while computing its digest.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Re-anchor a field error of a nested message at its place in `message`: an error in
    /// `Weakness.id` found at `weaknesses[2]` of a `ProposeRequest` becomes
    /// `ProposeRequest: field weaknesses[2].id`.
    pub fn within(self, message: &'static str, at: impl std::fmt::Display) -> Error {
        match self {
            Error::Field { field, reason, .. } => Error::Field {
                message,
                field: format!("{at}.{field}"),
                reason,
            },
            other => other,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
