//! The proposer's messages: Proposal, Rejection, ProposeRequest ↔ [`ProposeInput`] (the owned
//! form of the borrowing `selfharness_proposer::ProposeRequest`, with the policy parsed from
//! TOML), ProposeResponse.

use super::{field, list, nested, required, FromProto, ToProto};
use crate::v1;
use crate::Result;
use selfharness_core::harness::Harness;
use selfharness_core::policy::Policy;
use selfharness_miner::Weakness;
use selfharness_proposer::{Proposal, ProposeRequest, ProposeResponse, Rejection};
use std::collections::BTreeSet;
use std::path::Path;

impl ToProto for Proposal {
    type Proto = v1::Proposal;
    fn to_proto(&self) -> v1::Proposal {
        v1::Proposal {
            id: self.id.clone(),
            harness: Some(self.harness.to_proto()),
            patch: Some(self.patch.to_proto()),
            strategy: self.strategy.clone(),
        }
    }
}

impl FromProto for Proposal {
    type Proto = v1::Proposal;
    /// An empty `id` is derived from the harness (`p-` + the hex of its id).
    fn from_proto(p: &v1::Proposal) -> Result<Proposal> {
        const M: &str = "Proposal";
        let harness: Harness = nested(M, "harness", required(M, "harness", &p.harness)?)?;
        let patch = nested(M, "patch", required(M, "patch", &p.patch)?)?;
        let id = if p.id.is_empty() {
            format!("p-{}", harness.id().trim_start_matches("h-"))
        } else {
            p.id.clone()
        };
        Ok(Proposal {
            id,
            patch,
            harness,
            strategy: p.strategy.clone(),
        })
    }
}

impl ToProto for Rejection {
    type Proto = v1::Rejection;
    fn to_proto(&self) -> v1::Rejection {
        v1::Rejection {
            weakness: self.weakness.clone(),
            reason: self.reason.clone(),
        }
    }
}

impl FromProto for Rejection {
    type Proto = v1::Rejection;
    fn from_proto(p: &v1::Rejection) -> Result<Rejection> {
        Ok(Rejection {
            weakness: p.weakness.clone(),
            reason: p.reason.clone(),
        })
    }
}

impl ToProto for ProposeResponse {
    type Proto = v1::ProposeResponse;
    fn to_proto(&self) -> v1::ProposeResponse {
        v1::ProposeResponse {
            proposals: self.proposals.iter().map(ToProto::to_proto).collect(),
            rejected: self.rejected.iter().map(ToProto::to_proto).collect(),
        }
    }
}

impl FromProto for ProposeResponse {
    type Proto = v1::ProposeResponse;
    fn from_proto(p: &v1::ProposeResponse) -> Result<ProposeResponse> {
        const M: &str = "ProposeResponse";
        Ok(ProposeResponse {
            proposals: list(M, "proposals", &p.proposals)?,
            rejected: list(M, "rejected", &p.rejected)?,
        })
    }
}

/// A policy as the TOML text the contract carries.
pub fn policy_toml(policy: &Policy) -> String {
    toml::to_string(policy).expect("a policy serialises to TOML")
}

/// A policy from contract TOML (empty text: the default policy), naming `message`.`name`.
pub fn policy(message: &'static str, name: &'static str, text: &str) -> Result<Policy> {
    selfharness_core::error::parse_toml(Path::new("policy"), text)
        .map_err(|e| field(message, name, e.to_string()))
}

/// What a proposer is asked, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposeInput {
    pub champion: Harness,
    pub weaknesses: Vec<Weakness>,
    pub policy: Policy,
    pub k: usize,
    pub tried: BTreeSet<String>,
}

impl ProposeInput {
    /// The proposer's borrowing request over this input.
    pub fn request(&self) -> ProposeRequest<'_> {
        ProposeRequest {
            champion: &self.champion,
            weaknesses: &self.weaknesses,
            policy: &self.policy,
            k: self.k,
            tried: &self.tried,
        }
    }
}

impl ToProto for ProposeRequest<'_> {
    type Proto = v1::ProposeRequest;
    fn to_proto(&self) -> v1::ProposeRequest {
        v1::ProposeRequest {
            champion: Some(self.champion.to_proto()),
            weaknesses: self.weaknesses.iter().map(ToProto::to_proto).collect(),
            policy_toml: policy_toml(self.policy),
            k: super::count32(self.k),
            tried: self.tried.iter().cloned().collect(),
        }
    }
}

impl ToProto for ProposeInput {
    type Proto = v1::ProposeRequest;
    fn to_proto(&self) -> v1::ProposeRequest {
        self.request().to_proto()
    }
}

impl FromProto for ProposeInput {
    type Proto = v1::ProposeRequest;
    fn from_proto(p: &v1::ProposeRequest) -> Result<ProposeInput> {
        const M: &str = "ProposeRequest";
        let champion = nested(M, "champion", required(M, "champion", &p.champion)?)?;
        if p.k == 0 {
            return Err(field(M, "k", "must be at least 1"));
        }
        Ok(ProposeInput {
            champion,
            weaknesses: list(M, "weaknesses", &p.weaknesses)?,
            policy: policy(M, "policy_toml", &p.policy_toml)?,
            k: p.k as usize,
            tried: p.tried.iter().cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::miner::tests::weakness;
    use selfharness_core::patch::{Edit, HarnessPatch, Op};

    fn input() -> ProposeInput {
        let mut policy = Policy::default();
        policy.forbidden_content.push("csv-column-sum".into());
        policy.max_edits = 2;
        ProposeInput {
            champion: Harness::builtin_default(),
            weaknesses: vec![weakness()],
            policy,
            k: 3,
            tried: BTreeSet::from(["h-1".to_string()]),
        }
    }

    #[test]
    fn a_propose_request_round_trips_with_its_policy() {
        let i = input();
        assert_eq!(ProposeInput::from_proto(&i.to_proto()).unwrap(), i);
        let mut p = i.to_proto();
        p.policy_toml.clear();
        assert_eq!(
            ProposeInput::from_proto(&p).unwrap().policy,
            Policy::default()
        );
    }

    #[test]
    fn a_propose_request_names_what_is_missing_or_wrong() {
        let mut p = input().to_proto();
        p.k = 0;
        let err = ProposeInput::from_proto(&p).unwrap_err().to_string();
        assert_eq!(err, "ProposeRequest: field `k`: must be at least 1");
        let mut p = input().to_proto();
        p.champion = None;
        let err = ProposeInput::from_proto(&p).unwrap_err().to_string();
        assert_eq!(err, "ProposeRequest: field `champion`: missing");
        let mut p = input().to_proto();
        p.champion.as_mut().unwrap().toml = "nonsense = [".into();
        let err = ProposeInput::from_proto(&p).unwrap_err().to_string();
        assert!(
            err.starts_with("ProposeRequest: field `champion.toml`: "),
            "{err}"
        );
        let mut p = input().to_proto();
        p.policy_toml = "verifier = \"mine\"".into();
        let err = ProposeInput::from_proto(&p).unwrap_err().to_string();
        assert!(
            err.starts_with("ProposeRequest: field `policy_toml`: ") && err.contains("verifier"),
            "{err}"
        );
    }

    #[test]
    fn a_propose_response_round_trips_and_derives_missing_proposal_ids() {
        let champion = Harness::builtin_default();
        let patch = HarnessPatch {
            rationale: "r".into(),
            targets: vec!["w-1".into()],
            edits: vec![Edit {
                op: Op::Append,
                path: "wrappers".into(),
                value: Some(serde_json::json!({"kind": "fail_on_nonzero_exit"})),
            }],
        };
        let harness = patch.apply(&champion, &Policy::default()).unwrap();
        let r = ProposeResponse {
            proposals: vec![Proposal {
                id: format!("p-{}", &harness.id()[2..]),
                patch,
                harness,
                strategy: "catalogue".into(),
            }],
            rejected: vec![
                Rejection {
                    weakness: Some("w-2".into()),
                    reason: "already tried".into(),
                },
                Rejection {
                    weakness: None,
                    reason: "model error".into(),
                },
            ],
        };
        let mut p = r.to_proto();
        assert_eq!(ProposeResponse::from_proto(&p).unwrap(), r);
        p.proposals[0].id.clear();
        assert_eq!(
            ProposeResponse::from_proto(&p).unwrap().proposals[0].id,
            r.proposals[0].id
        );
    }
}
