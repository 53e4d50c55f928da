//! Domain ↔ proto. [`ToProto`] encodes a domain value (it cannot fail); [`FromProto`] decodes a
//! message, checking what protobuf cannot (a required sub-message present, an enum in range, a
//! document that parses, an id that matches its content) and naming the message and field at
//! fault. Nothing here decides anything about the loop.
//!
//! Conventions: an empty string stands for `None` where the domain has an optional string and
//! the proto a plain one; a missing sub-message is an error unless the field's documentation
//! in the `.proto` file gives it a default.
//!
//! # Layout
//! - [`eval`] — EvalJob ([`JobSpec`]), EvalResult ↔ Evaluation, Usage.
//! - [`harness`] — Harness, HarnessPatch.
//! - [`trace`] — Trace, Step.
//! - [`miner`] — Weakness, Evidence, MineRequest ([`MineInput`]), MineResponse.
//! - [`proposer`] — Proposal, Rejection, ProposeRequest ([`ProposeInput`]), ProposeResponse.
//! - [`coordinator`] — RunConfig, RunEvent, Decision, Generation, Run, CreateRunRequest.

pub mod coordinator;
pub mod eval;
pub mod harness;
pub mod miner;
pub mod proposer;
pub mod trace;

pub use coordinator::{run, run_event, CreateRun};
pub use eval::{eval_result, evaluation, JobSpec};
pub use miner::MineInput;
pub use proposer::ProposeInput;

use crate::{Error, Result};

/// A domain value that has a proto form.
pub trait ToProto {
    type Proto;
    fn to_proto(&self) -> Self::Proto;
}

/// A domain value decoded (and checked) from its proto form.
pub trait FromProto: Sized {
    type Proto;
    fn from_proto(p: &Self::Proto) -> Result<Self>;
}

/// Decode a protobuf message, naming it in the error.
pub fn decode<M: prost::Message + Default>(message: &'static str, bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|source| Error::Decode { message, source })
}

/// An error about `field` of `message`.
pub(crate) fn field(
    message: &'static str,
    field: impl Into<String>,
    reason: impl Into<String>,
) -> Error {
    Error::Field {
        message,
        field: field.into(),
        reason: reason.into(),
    }
}

/// A sub-message that must be present.
pub(crate) fn required<'a, T>(
    message: &'static str,
    name: &'static str,
    v: &'a Option<T>,
) -> Result<&'a T> {
    v.as_ref().ok_or_else(|| field(message, name, "missing"))
}

/// A string that must not be empty.
pub(crate) fn non_empty(message: &'static str, name: &'static str, v: &str) -> Result<()> {
    if v.is_empty() {
        return Err(field(message, name, "empty"));
    }
    Ok(())
}

/// Decode a nested message found at `at` of `message`.
pub(crate) fn nested<T: FromProto>(
    message: &'static str,
    at: impl std::fmt::Display,
    p: &T::Proto,
) -> Result<T> {
    T::from_proto(p).map_err(|e| e.within(message, at))
}

/// Decode a repeated field, naming the index at fault.
pub(crate) fn list<T: FromProto>(
    message: &'static str,
    name: &'static str,
    items: &[T::Proto],
) -> Result<Vec<T>> {
    items
        .iter()
        .enumerate()
        .map(|(i, p)| nested(message, format_args!("{name}[{i}]"), p))
        .collect()
}

/// `""` → `None`.
pub(crate) fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A `usize` count on the wire (saturating: no count in this system comes near `u32::MAX`).
pub(crate) fn count32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A snake_case serde enum from its wire name, or an error listing nothing but the value.
pub(crate) fn snake_enum<T: serde::de::DeserializeOwned>(
    message: &'static str,
    name: &'static str,
    s: &str,
) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| field(message, name, format!("unknown value {s:?}")))
}
