//! Harness ↔ `Harness` (the TOML document plus copies of its id and lineage) and HarnessPatch ↔
//! `HarnessPatch` (edit values as JSON text). Decoding parses and checks the document exactly
//! as loading a harness file does; it never applies a patch.

use super::{field, list, FromProto, ToProto};
use crate::v1;
use crate::Result;
use selfharness_core::harness::Harness;
use selfharness_core::patch::{Edit, HarnessPatch, Op};
use std::path::Path;

impl ToProto for Harness {
    type Proto = v1::Harness;
    fn to_proto(&self) -> v1::Harness {
        v1::Harness {
            id: self.id(),
            toml: self.to_toml(),
            name: self.name.clone(),
            parent: self.parent.clone().unwrap_or_default(),
            generation: self.generation,
        }
    }
}

impl FromProto for Harness {
    type Proto = v1::Harness;
    /// The document is the truth; a non-empty copy that disagrees with it is refused.
    fn from_proto(p: &v1::Harness) -> Result<Harness> {
        const M: &str = "Harness";
        let h = Harness::from_toml(Path::new("document"), &p.toml)
            .map_err(|e| field(M, "toml", e.to_string()))?;
        let disagree = |name: &str, copy: &str, doc: &str| {
            field(
                M,
                name.to_string(),
                format!("{copy:?} disagrees with the document ({doc:?})"),
            )
        };
        if !p.id.is_empty() && p.id != h.id() {
            return Err(disagree("id", &p.id, &h.id()));
        }
        if !p.name.is_empty() && p.name != h.name {
            return Err(disagree("name", &p.name, &h.name));
        }
        if !p.parent.is_empty() && Some(&p.parent) != h.parent.as_ref() {
            return Err(disagree(
                "parent",
                &p.parent,
                h.parent.as_deref().unwrap_or(""),
            ));
        }
        if p.generation != 0 && p.generation != h.generation {
            return Err(disagree(
                "generation",
                &p.generation.to_string(),
                &h.generation.to_string(),
            ));
        }
        Ok(h)
    }
}

impl ToProto for Edit {
    type Proto = v1::Edit;
    fn to_proto(&self) -> v1::Edit {
        v1::Edit {
            op: match self.op {
                Op::Set => v1::EditOp::Set,
                Op::Append => v1::EditOp::Append,
                Op::Remove => v1::EditOp::Remove,
            } as i32,
            path: self.path.clone(),
            value: self
                .value
                .as_ref()
                .map(|v| serde_json::to_string(v).expect("a JSON value serialises")),
        }
    }
}

impl FromProto for Edit {
    type Proto = v1::Edit;
    fn from_proto(p: &v1::Edit) -> Result<Edit> {
        const M: &str = "Edit";
        let op = match v1::EditOp::try_from(p.op) {
            Ok(v1::EditOp::Set) => Op::Set,
            Ok(v1::EditOp::Append) => Op::Append,
            Ok(v1::EditOp::Remove) => Op::Remove,
            _ => return Err(field(M, "op", format!("unknown value {}", p.op))),
        };
        if p.path.is_empty() {
            return Err(field(M, "path", "empty"));
        }
        let value = match &p.value {
            None => None,
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| field(M, "value", format!("not JSON: {e}")))?,
            ),
        };
        if value.is_none() && op != Op::Remove {
            return Err(field(M, "value", "missing (set and append need a value)"));
        }
        Ok(Edit {
            op,
            path: p.path.clone(),
            value,
        })
    }
}

impl ToProto for HarnessPatch {
    type Proto = v1::HarnessPatch;
    fn to_proto(&self) -> v1::HarnessPatch {
        v1::HarnessPatch {
            rationale: self.rationale.clone(),
            targets: self.targets.clone(),
            edits: self.edits.iter().map(ToProto::to_proto).collect(),
        }
    }
}

impl FromProto for HarnessPatch {
    type Proto = v1::HarnessPatch;
    fn from_proto(p: &v1::HarnessPatch) -> Result<HarnessPatch> {
        const M: &str = "HarnessPatch";
        if p.edits.is_empty() {
            return Err(field(M, "edits", "empty (a patch has at least one edit)"));
        }
        if let Some(i) = p.targets.iter().position(String::is_empty) {
            return Err(field(M, format!("targets[{i}]"), "empty"));
        }
        Ok(HarnessPatch {
            rationale: p.rationale.clone(),
            targets: p.targets.clone(),
            edits: list(M, "edits", &p.edits)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use selfharness_core::harness::{Check, RetryOn, Wrapper};
    use serde_json::json;

    #[test]
    fn the_builtin_harnesses_round_trip_with_their_ids() {
        for h in [Harness::builtin_default(), Harness::builtin_oracle()] {
            let p = h.to_proto();
            assert_eq!(p.id, h.id());
            assert_eq!(Harness::from_proto(&p).unwrap(), h);
        }
    }

    #[test]
    fn empty_copies_are_filled_and_disagreeing_ones_refused() {
        let mut h = Harness::builtin_default();
        h.parent = Some("h-0".into());
        h.generation = 2;
        let mut p = h.to_proto();
        p.id.clear();
        p.name.clear();
        p.parent.clear();
        p.generation = 0;
        assert_eq!(Harness::from_proto(&p).unwrap(), h);
        let mut bad = h.to_proto();
        bad.id = "h-0000000000000000".into();
        let err = Harness::from_proto(&bad).unwrap_err().to_string();
        assert!(err.starts_with("Harness: field `id`: "), "{err}");
        let mut bad = h.to_proto();
        bad.generation = 3;
        let err = Harness::from_proto(&bad).unwrap_err().to_string();
        assert!(err.starts_with("Harness: field `generation`: "), "{err}");
    }

    #[test]
    fn a_bad_document_names_the_toml_field_and_the_harness_rule() {
        let p = v1::Harness {
            toml: "system_prompt = \"x\"\n[limits]\nmax_turns = 0\n".into(),
            ..Default::default()
        };
        let err = Harness::from_proto(&p).unwrap_err().to_string();
        assert!(
            err.starts_with("Harness: field `toml`: ") && err.contains("limits.max_turns"),
            "{err}"
        );
    }

    #[test]
    fn a_patch_round_trips_and_bad_edits_name_their_index() {
        let patch = HarnessPatch {
            rationale: "guard hangs".into(),
            targets: vec!["w-1".into()],
            edits: vec![
                Edit {
                    op: Op::Append,
                    path: "wrappers".into(),
                    value: Some(json!({"kind": "timeout_guard", "timeout_sec": 3})),
                },
                Edit {
                    op: Op::Remove,
                    path: "validation.checks[0]".into(),
                    value: None,
                },
            ],
        };
        assert_eq!(HarnessPatch::from_proto(&patch.to_proto()).unwrap(), patch);
        let mut p = patch.to_proto();
        p.edits[1].op = 9;
        let err = HarnessPatch::from_proto(&p).unwrap_err().to_string();
        assert_eq!(err, "HarnessPatch: field `edits[1].op`: unknown value 9");
        let mut p = patch.to_proto();
        p.edits[0].value = Some("{not json".into());
        let err = HarnessPatch::from_proto(&p).unwrap_err().to_string();
        assert!(
            err.starts_with("HarnessPatch: field `edits[0].value`: not JSON"),
            "{err}"
        );
        p.edits.clear();
        assert!(HarnessPatch::from_proto(&p).is_err());
    }

    fn wrapper() -> impl Strategy<Value = Wrapper> {
        prop_oneof![
            Just(Wrapper::FailOnNonzeroExit),
            any::<bool>().prop_map(|require_named| Wrapper::VerifyFileWritten { require_named }),
            (1u64..600).prop_map(|timeout_sec| Wrapper::TimeoutGuard { timeout_sec }),
            proptest::collection::vec("[a-z]{1,8}( +[a-z]{1,4})?", 1..4)
                .prop_map(|patterns| Wrapper::DenyPattern { patterns }),
            (64usize..1_000_000).prop_map(|max_bytes| Wrapper::TruncateOutput { max_bytes }),
        ]
    }

    fn check() -> impl Strategy<Value = Check> {
        prop_oneof![
            any::<String>().prop_map(|message| Check::ConfirmDone { message }),
            Just(Check::PathsExist),
            any::<String>().prop_map(|command| Check::Command { command }),
        ]
    }

    prop_compose! {
        fn harness()(
            name in "[a-z][a-z0-9-]{0,12}",
            parent in proptest::option::of("h-[0-9a-f]{16}"),
            generation in 0u32..50,
            system_prompt in any::<String>(),
            planning_template in any::<String>(),
            wrappers in proptest::collection::vec(wrapper(), 0..5),
            checks in proptest::collection::vec(check(), 0..3),
            max_rounds in 0u32..5,
            on in proptest::sample::subsequence(
                vec![RetryOn::MalformedReply, RetryOn::NoToolCall, RetryOn::ModelError], 0..3),
            max_attempts in 0u32..5,
            message in any::<String>(),
            max_turns in 1u32..100,
            max_context_tokens in 0u64..1 << 40,
            max_total_tokens in 0u64..1 << 40,
            command_timeout_sec in 1u64..3600,
        ) -> Harness {
            let mut h = Harness::builtin_default();
            h.name = name;
            h.parent = parent;
            h.generation = generation;
            h.system_prompt = system_prompt;
            h.planning_template = planning_template;
            h.wrappers = wrappers;
            h.validation.checks = checks;
            h.validation.max_rounds = max_rounds;
            h.retry.on = on;
            h.retry.max_attempts = max_attempts;
            h.retry.message = message;
            h.limits.max_turns = max_turns;
            h.limits.max_context_tokens = max_context_tokens;
            h.limits.max_total_tokens = max_total_tokens;
            h.limits.command_timeout_sec = command_timeout_sec;
            h
        }
    }

    proptest! {
        /// Any valid harness crosses the wire unchanged, id and lineage included, whatever its
        /// prompts contain (quotes, newlines, control characters, any Unicode).
        #[test]
        fn any_harness_round_trips(h in harness()) {
            prop_assert!(h.check().is_ok());
            let p = h.to_proto();
            prop_assert_eq!(&p.id, &h.id());
            let back = Harness::from_proto(&p).unwrap();
            prop_assert_eq!(back.id(), h.id());
            prop_assert_eq!(back, h);
        }
    }
}
