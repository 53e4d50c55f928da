//! Errors as `tonic::Status`: the one place that decides which gRPC code each failure gets, so
//! every adapter answers alike. A decoding error is `INVALID_ARGUMENT` with the message naming
//! the field; domain errors map by what the caller can do about them. Never used to decide
//! anything but the code and the text.

use crate::Error;
use tonic::Status;

impl From<Error> for Status {
    /// A message we cannot use is the sender's to fix.
    fn from(e: Error) -> Status {
        match e {
            Error::Field { .. } | Error::Decode { .. } => Status::invalid_argument(e.to_string()),
            Error::Io { .. } => Status::internal(e.to_string()),
        }
    }
}

/// A domain error of `selfharness-core` as a status.
pub fn core(e: &selfharness_core::Error) -> Status {
    use selfharness_core::Error as E;
    let text = e.to_string();
    match e {
        // Bad input from the caller: a document that does not parse, a rejected patch.
        E::Toml { .. } | E::Invalid { .. } | E::Patch(_) => Status::invalid_argument(text),
        // The serving side's own files and tasks.
        E::Task { .. } => Status::failed_precondition(text),
        // The model endpoint failed: worth retrying later.
        E::Model { .. } => Status::unavailable(text),
        E::Io { .. } | E::Sandbox(_) => Status::internal(text),
    }
}

/// A coordinator error as a status.
pub fn coordinator(e: &selfharness_coordinator::Error) -> Status {
    use selfharness_coordinator::Error as E;
    let text = e.to_string();
    match e {
        // Asking for test-split evaluations before the run ends: refused by design.
        E::Sealed(_) => Status::failed_precondition(text),
        _ => Status::internal(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn each_failure_gets_the_code_the_caller_can_act_on() {
        let field = crate::Error::Field {
            message: "EvalJob",
            field: "key".into(),
            reason: "empty".into(),
        };
        let s = Status::from(field);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "EvalJob: field `key`: empty");
        let patch = selfharness_core::Error::Patch("edit 1: not mutable".into());
        assert_eq!(core(&patch).code(), Code::InvalidArgument);
        let model = selfharness_core::Error::Model {
            model: "m".into(),
            message: "refused".into(),
        };
        assert_eq!(core(&model).code(), Code::Unavailable);
        let sealed = selfharness_coordinator::Error::Sealed(3);
        assert_eq!(coordinator(&sealed).code(), Code::FailedPrecondition);
        assert!(coordinator(&sealed).message().contains("sealed"));
    }
}
