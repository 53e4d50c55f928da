//! The miner's messages: Weakness, Evidence, MineRequest ↔ [`MineInput`] (the owned form of
//! the borrowing `selfharness_miner::MineRequest`), MineResponse ↔ `Vec<Weakness>`.

use super::{field, list, non_empty, FromProto, ToProto};
use crate::v1;
use crate::Result;
use selfharness_core::trace::Trace;
use selfharness_miner::{Evidence, MineRequest, Weakness};
use std::collections::BTreeMap;

impl ToProto for Evidence {
    type Proto = v1::Evidence;
    fn to_proto(&self) -> v1::Evidence {
        v1::Evidence {
            trace: self.trace.clone(),
            task: self.task.clone(),
            step: self.step,
            excerpt: self.excerpt.clone(),
        }
    }
}

impl FromProto for Evidence {
    type Proto = v1::Evidence;
    fn from_proto(p: &v1::Evidence) -> Result<Evidence> {
        non_empty("Evidence", "trace", &p.trace)?;
        Ok(Evidence {
            trace: p.trace.clone(),
            task: p.task.clone(),
            step: p.step,
            excerpt: p.excerpt.clone(),
        })
    }
}

impl ToProto for Weakness {
    type Proto = v1::Weakness;
    fn to_proto(&self) -> v1::Weakness {
        v1::Weakness {
            id: self.id.clone(),
            kind: self.kind.clone(),
            tool: self.tool.clone(),
            error: self.error.clone(),
            name: self.name.clone(),
            failures: self.failures,
            tasks: self.tasks,
            position: self.position,
            evidence: self.evidence.iter().map(ToProto::to_proto).collect(),
        }
    }
}

impl FromProto for Weakness {
    type Proto = v1::Weakness;
    fn from_proto(p: &v1::Weakness) -> Result<Weakness> {
        const M: &str = "Weakness";
        non_empty(M, "id", &p.id)?;
        non_empty(M, "kind", &p.kind)?;
        if !p.position.is_finite() {
            return Err(field(
                M,
                "position",
                format!("{} is not finite", p.position),
            ));
        }
        Ok(Weakness {
            id: p.id.clone(),
            kind: p.kind.clone(),
            tool: p.tool.clone(),
            error: p.error.clone(),
            name: p.name.clone(),
            failures: p.failures,
            tasks: p.tasks,
            position: p.position,
            evidence: list(M, "evidence", &p.evidence)?,
        })
    }
}

/// What a miner is asked, owned (a decoded request outlives the message it came from).
#[derive(Debug, Clone, PartialEq)]
pub struct MineInput {
    pub traces: Vec<Trace>,
    /// Traces still to fetch from the trace store, by object name.
    pub trace_refs: Vec<String>,
    /// Task id → instruction text.
    pub instructions: BTreeMap<String, String>,
}

impl MineInput {
    /// The miner's borrowing request over this input.
    pub fn request(&self) -> MineRequest<'_> {
        MineRequest {
            traces: &self.traces,
            instructions: &self.instructions,
        }
    }
}

impl ToProto for MineRequest<'_> {
    type Proto = v1::MineRequest;
    fn to_proto(&self) -> v1::MineRequest {
        v1::MineRequest {
            traces: self.traces.iter().map(ToProto::to_proto).collect(),
            instructions: self.instructions.clone(),
            trace_refs: Vec::new(),
        }
    }
}

impl ToProto for MineInput {
    type Proto = v1::MineRequest;
    fn to_proto(&self) -> v1::MineRequest {
        v1::MineRequest {
            trace_refs: self.trace_refs.clone(),
            ..self.request().to_proto()
        }
    }
}

impl FromProto for MineInput {
    type Proto = v1::MineRequest;
    fn from_proto(p: &v1::MineRequest) -> Result<MineInput> {
        Ok(MineInput {
            traces: list("MineRequest", "traces", &p.traces)?,
            trace_refs: p
                .trace_refs
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    if r.is_empty() {
                        return Err(field("MineRequest", format!("trace_refs[{i}]"), "empty"));
                    }
                    Ok(r.clone())
                })
                .collect::<Result<_>>()?,
            instructions: p.instructions.clone(),
        })
    }
}

impl ToProto for [Weakness] {
    type Proto = v1::MineResponse;
    fn to_proto(&self) -> v1::MineResponse {
        v1::MineResponse {
            weaknesses: self.iter().map(ToProto::to_proto).collect(),
        }
    }
}

impl FromProto for Vec<Weakness> {
    type Proto = v1::MineResponse;
    fn from_proto(p: &v1::MineResponse) -> Result<Vec<Weakness>> {
        list("MineResponse", "weaknesses", &p.weaknesses)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::convert::trace::tests::sample;

    pub(crate) fn weakness() -> Weakness {
        Weakness {
            id: "w-0000002a".into(),
            kind: "ignored_failure".into(),
            tool: "bash".into(),
            error: "bash: cd: <path>: No such file".into(),
            name: "carries on after a failed command".into(),
            failures: 3,
            tasks: 2,
            position: 0.25,
            evidence: vec![Evidence {
                trace: "e-1".into(),
                task: "t".into(),
                step: 1,
                excerpt: "exit_code: 1".into(),
            }],
        }
    }

    #[test]
    fn a_mine_request_and_response_round_trip() {
        let input = MineInput {
            traces: vec![sample("e-1", "t1"), sample("e-2", "t2")],
            trace_refs: vec!["e-3.json".into()],
            instructions: BTreeMap::from([("t1".into(), "Write /app/out.txt".into())]),
        };
        assert_eq!(MineInput::from_proto(&input.to_proto()).unwrap(), input);
        let ws = vec![weakness(), weakness()];
        assert_eq!(Vec::<Weakness>::from_proto(&ws.to_proto()).unwrap(), ws);
    }

    #[test]
    fn a_bad_nested_trace_is_named_by_its_path() {
        let mut p = MineInput {
            traces: vec![sample("e-1", "t1"), sample("e-2", "t2")],
            trace_refs: Vec::new(),
            instructions: BTreeMap::new(),
        }
        .to_proto();
        p.traces[1].end = "nope".into();
        let err = MineInput::from_proto(&p).unwrap_err().to_string();
        assert_eq!(
            err,
            "MineRequest: field `traces[1].end`: unknown value \"nope\""
        );
        let mut r = [weakness()].to_proto();
        r.weaknesses[0].evidence[0].trace.clear();
        let err = Vec::<Weakness>::from_proto(&r).unwrap_err().to_string();
        assert_eq!(
            err,
            "MineResponse: field `weaknesses[0].evidence[0].trace`: empty"
        );
    }
}
