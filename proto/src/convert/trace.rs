//! Trace ↔ `Trace`, Step ↔ `Step`: field for field (the trace JSON on disk and the message
//! carry the same things). Decoding refuses an unknown end reason and a trace without an id or
//! task; it never interprets what the episode did.

use super::eval::usage;
use super::{field, list, non_empty, snake_enum, FromProto, ToProto};
use crate::v1;
use crate::Result;
use selfharness_core::trace::{CheckResult, Step, Trace, Verdict};

impl ToProto for Verdict {
    type Proto = v1::Verdict;
    fn to_proto(&self) -> v1::Verdict {
        v1::Verdict {
            wrapper: self.wrapper.clone(),
            outcome: self.outcome.clone(),
            message: self.message.clone(),
        }
    }
}

impl FromProto for Verdict {
    type Proto = v1::Verdict;
    fn from_proto(p: &v1::Verdict) -> Result<Verdict> {
        Ok(Verdict {
            wrapper: p.wrapper.clone(),
            outcome: p.outcome.clone(),
            message: p.message.clone(),
        })
    }
}

impl ToProto for CheckResult {
    type Proto = v1::CheckResult;
    fn to_proto(&self) -> v1::CheckResult {
        v1::CheckResult {
            kind: self.kind.clone(),
            passed: self.passed,
            message: self.message.clone(),
        }
    }
}

impl FromProto for CheckResult {
    type Proto = v1::CheckResult;
    fn from_proto(p: &v1::CheckResult) -> Result<CheckResult> {
        Ok(CheckResult {
            kind: p.kind.clone(),
            passed: p.passed,
            message: p.message.clone(),
        })
    }
}

impl ToProto for Step {
    type Proto = v1::Step;
    fn to_proto(&self) -> v1::Step {
        v1::Step {
            turn: self.turn,
            tool: self.tool.clone(),
            arguments: self.arguments.clone(),
            observation: self.observation.clone(),
            observation_bytes: self.observation_bytes as u64,
            exit_code: self.exit_code,
            timed_out: self.timed_out,
            verdicts: self.verdicts.iter().map(ToProto::to_proto).collect(),
            checks: self.checks.iter().map(ToProto::to_proto).collect(),
            error: self.error.clone(),
            retry: self.retry.clone(),
            usage: Some(self.usage.to_proto()),
            model_ms: self.model_ms,
            tool_ms: self.tool_ms,
        }
    }
}

impl FromProto for Step {
    type Proto = v1::Step;
    fn from_proto(p: &v1::Step) -> Result<Step> {
        const M: &str = "Step";
        Ok(Step {
            turn: p.turn,
            tool: p.tool.clone(),
            arguments: p.arguments.clone(),
            observation: p.observation.clone(),
            observation_bytes: usize::try_from(p.observation_bytes)
                .map_err(|_| field(M, "observation_bytes", "too large"))?,
            exit_code: p.exit_code,
            timed_out: p.timed_out,
            verdicts: list(M, "verdicts", &p.verdicts)?,
            checks: list(M, "checks", &p.checks)?,
            error: p.error.clone(),
            retry: p.retry.clone(),
            usage: usage(&p.usage),
            model_ms: p.model_ms,
            tool_ms: p.tool_ms,
        })
    }
}

impl ToProto for Trace {
    type Proto = v1::Trace;
    fn to_proto(&self) -> v1::Trace {
        v1::Trace {
            id: self.id.clone(),
            task_id: self.task_id.clone(),
            harness_id: self.harness_id.clone(),
            model_id: self.model_id.clone(),
            trial: self.trial,
            seed: self.seed,
            steps: self.steps.iter().map(ToProto::to_proto).collect(),
            end: self.end.as_str().to_string(),
            end_detail: self.end_detail.clone(),
            reward: self.reward,
            verifier_output: self.verifier_output.clone(),
            usage: Some(self.usage.to_proto()),
            wall_ms: self.wall_ms,
        }
    }
}

impl FromProto for Trace {
    type Proto = v1::Trace;
    fn from_proto(p: &v1::Trace) -> Result<Trace> {
        const M: &str = "Trace";
        non_empty(M, "id", &p.id)?;
        non_empty(M, "task_id", &p.task_id)?;
        Ok(Trace {
            id: p.id.clone(),
            task_id: p.task_id.clone(),
            harness_id: p.harness_id.clone(),
            model_id: p.model_id.clone(),
            trial: p.trial,
            seed: p.seed,
            steps: list(M, "steps", &p.steps)?,
            end: snake_enum(M, "end", &p.end)?,
            end_detail: p.end_detail.clone(),
            reward: p.reward,
            verifier_output: p.verifier_output.clone(),
            usage: usage(&p.usage),
            wall_ms: p.wall_ms,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use selfharness_core::model::Usage;
    use selfharness_core::trace::EndReason;

    /// A failed episode as the agent records it: a failed command carried on from, then done.
    pub(crate) fn sample(id: &str, task: &str) -> Trace {
        Trace {
            id: id.into(),
            task_id: task.into(),
            harness_id: "h-1".into(),
            model_id: "scripted/default@1".into(),
            trial: 1,
            seed: 7,
            steps: vec![
                Step {
                    turn: 1,
                    tool: Some("bash".into()),
                    arguments: Some(r#"{"command":"cd /app/wrk && sort x"}"#.into()),
                    observation: "exit_code: 1\n[stderr]\nbash: cd: /app/wrk: No such file".into(),
                    observation_bytes: 52,
                    exit_code: Some(1),
                    verdicts: vec![Verdict {
                        wrapper: "truncate_output".into(),
                        outcome: "truncated".into(),
                        message: "cut".into(),
                    }],
                    usage: Usage {
                        prompt_tokens: 100,
                        completion_tokens: 12,
                    },
                    model_ms: 3,
                    tool_ms: 40,
                    ..Step::default()
                },
                Step {
                    turn: 2,
                    tool: Some("done".into()),
                    arguments: Some("{}".into()),
                    checks: vec![CheckResult {
                        kind: "paths_exist".into(),
                        passed: false,
                        message: "missing /app/out.txt".into(),
                    }],
                    retry: Some("again".into()),
                    error: Some("no".into()),
                    ..Step::default()
                },
            ],
            end: EndReason::Done,
            end_detail: String::new(),
            reward: Some(0.0),
            verifier_output: "FAIL".into(),
            usage: Usage {
                prompt_tokens: 100,
                completion_tokens: 12,
            },
            wall_ms: 900,
        }
    }

    #[test]
    fn a_trace_round_trips_and_an_unknown_end_is_refused() {
        let t = sample("e-1", "t");
        assert_eq!(Trace::from_proto(&t.to_proto()).unwrap(), t);
        let mut p = t.to_proto();
        p.end = "exploded".into();
        let err = Trace::from_proto(&p).unwrap_err().to_string();
        assert_eq!(err, "Trace: field `end`: unknown value \"exploded\"");
        let mut p = t.to_proto();
        p.id.clear();
        assert!(Trace::from_proto(&p).is_err());
    }

    fn end() -> impl Strategy<Value = EndReason> {
        proptest::sample::select(vec![
            EndReason::Done,
            EndReason::MaxTurns,
            EndReason::ContextOverflow,
            EndReason::TokenBudget,
            EndReason::CommandTimeout,
            EndReason::AgentTimeout,
            EndReason::MalformedReply,
            EndReason::NoToolCall,
            EndReason::ModelError,
        ])
    }

    prop_compose! {
        fn step()(
            turn in 1u32..50,
            tool in proptest::option::of("[a-z_]{1,10}"),
            arguments in proptest::option::of(any::<String>()),
            observation in any::<String>(),
            observation_bytes in 0usize..1 << 30,
            exit_code in proptest::option::of(any::<i32>()),
            timed_out in any::<bool>(),
            error in proptest::option::of(any::<String>()),
            tokens in (0u64..1 << 40, 0u64..1 << 40),
            ms in (0u64..1 << 40, 0u64..1 << 40),
        ) -> Step {
            Step {
                turn, tool, arguments, observation, observation_bytes, exit_code, timed_out,
                error,
                usage: Usage { prompt_tokens: tokens.0, completion_tokens: tokens.1 },
                model_ms: ms.0,
                tool_ms: ms.1,
                ..Step::default()
            }
        }
    }

    proptest! {
        /// Every field of every step survives the wire, including absent optionals.
        #[test]
        fn any_trace_round_trips(
            steps in proptest::collection::vec(step(), 0..6),
            end in end(),
            reward in proptest::option::of(0.0f64..=1.0),
        ) {
            let mut t = sample("e-2", "task");
            t.steps = steps;
            t.end = end;
            t.reward = reward;
            prop_assert_eq!(Trace::from_proto(&t.to_proto()).unwrap(), t);
        }
    }
}
