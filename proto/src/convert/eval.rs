//! Evaluation jobs and results: [`JobSpec`] ↔ `EvalJob`, `Evaluation` ↔ `EvalResult`, Usage.
//! A job travels by reference (task id + suite digest, harness id): resolving those to a task
//! and a harness document is the validator's business, not this module's.

use super::{field, non_empty, required, snake_enum, FromProto, ToProto};
use crate::v1;
use crate::Result;
use selfharness_core::eval::{eval_key, EvalJob, EvalStatus, Evaluation};
use selfharness_core::model::Usage;

impl ToProto for Usage {
    type Proto = v1::Usage;
    fn to_proto(&self) -> v1::Usage {
        v1::Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
        }
    }
}

/// Usage is plain numbers: any message is valid, and an absent one is zero.
pub(crate) fn usage(u: &Option<v1::Usage>) -> Usage {
    let u = u.unwrap_or_default();
    Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
    }
}

/// The result of `e` as `validator` sends it on its `delivery`-th delivery of the job.
pub fn eval_result(e: &Evaluation, validator: &str, delivery: u32) -> v1::EvalResult {
    v1::EvalResult {
        key: e.key.clone(),
        task_id: e.task_id.clone(),
        harness_id: e.harness_id.clone(),
        model_id: e.model_id.clone(),
        trial: e.trial,
        seed: e.seed,
        status: match e.status {
            EvalStatus::Passed => v1::EvalStatus::Passed,
            EvalStatus::Failed => v1::EvalStatus::Failed,
            EvalStatus::Error => v1::EvalStatus::Error,
        } as i32,
        reward: e.reward,
        end: e.end.map(|r| r.as_str().to_string()).unwrap_or_default(),
        turns: e.turns,
        usage: Some(e.usage.to_proto()),
        wall_ms: e.wall_ms,
        trace: e.trace.clone().unwrap_or_default(),
        error: e.error.clone().unwrap_or_default(),
        validator: validator.to_string(),
        delivery,
    }
}

/// The evaluation an `EvalResult` reports (who ran it, and on which delivery, is dropped).
pub fn evaluation(r: &v1::EvalResult) -> Result<Evaluation> {
    const M: &str = "EvalResult";
    non_empty(M, "key", &r.key)?;
    let status = match v1::EvalStatus::try_from(r.status) {
        Ok(v1::EvalStatus::Passed) => EvalStatus::Passed,
        Ok(v1::EvalStatus::Failed) => EvalStatus::Failed,
        Ok(v1::EvalStatus::Error) => EvalStatus::Error,
        _ => return Err(field(M, "status", format!("unknown value {}", r.status))),
    };
    let end = if r.end.is_empty() {
        None
    } else {
        Some(
            snake_enum(M, "end", &r.end)
                .map_err(|_| field(M, "end", format!("unknown end reason {:?}", r.end)))?,
        )
    };
    Ok(Evaluation {
        key: r.key.clone(),
        task_id: r.task_id.clone(),
        harness_id: r.harness_id.clone(),
        model_id: r.model_id.clone(),
        trial: r.trial,
        seed: r.seed,
        status,
        reward: r.reward,
        end,
        turns: r.turns,
        usage: usage(&r.usage),
        wall_ms: r.wall_ms,
        trace: (!r.trace.is_empty()).then(|| r.trace.clone()),
        error: (!r.error.is_empty()).then(|| r.error.clone()),
    })
}

impl FromProto for Evaluation {
    type Proto = v1::EvalResult;
    fn from_proto(r: &v1::EvalResult) -> Result<Evaluation> {
        evaluation(r)
    }
}

/// An evaluation job by reference: what an `EvalJob` says, checked for presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// Content address of (harness id, task id, model id, trial, seed).
    pub key: String,
    pub task_id: String,
    /// Digest of the suite the task belongs to ([`crate::suite_digest`]).
    pub suite_digest: String,
    pub harness_id: String,
    pub trial: u32,
    /// The run seed (episode seeds derive from it, the task and the trial).
    pub seed: u64,
    /// The model the sender expects the validator to serve.
    pub model_id: String,
    /// The run the job belongs to; empty for a job outside any run.
    pub run_id: String,
}

impl JobSpec {
    /// The reference form of a domain job, for `model_id` on the suite with `suite_digest`.
    pub fn of(job: &EvalJob, model_id: &str, suite_digest: &str, run_id: &str) -> JobSpec {
        let harness_id = job.harness.id();
        JobSpec {
            key: eval_key(&harness_id, &job.task.id, model_id, job.trial, job.seed),
            task_id: job.task.id.clone(),
            suite_digest: suite_digest.to_string(),
            harness_id,
            trial: job.trial,
            seed: job.seed,
            model_id: model_id.to_string(),
            run_id: run_id.to_string(),
        }
    }

    /// The key this job must carry: `eval_key` of its components.
    pub fn expected_key(&self) -> String {
        eval_key(
            &self.harness_id,
            &self.task_id,
            &self.model_id,
            self.trial,
            self.seed,
        )
    }
}

impl ToProto for JobSpec {
    type Proto = v1::EvalJob;
    fn to_proto(&self) -> v1::EvalJob {
        v1::EvalJob {
            key: self.key.clone(),
            task: Some(v1::TaskRef {
                task_id: self.task_id.clone(),
                suite_digest: self.suite_digest.clone(),
            }),
            harness: Some(v1::HarnessRef {
                harness_id: self.harness_id.clone(),
            }),
            trial: self.trial,
            seed: self.seed,
            model_id: self.model_id.clone(),
            run_id: self.run_id.clone(),
        }
    }
}

impl FromProto for JobSpec {
    type Proto = v1::EvalJob;
    fn from_proto(j: &v1::EvalJob) -> Result<JobSpec> {
        const M: &str = "EvalJob";
        non_empty(M, "key", &j.key)?;
        let task = required(M, "task", &j.task)?;
        non_empty(M, "task.task_id", &task.task_id)?;
        let harness = required(M, "harness", &j.harness)?;
        non_empty(M, "harness.harness_id", &harness.harness_id)?;
        non_empty(M, "model_id", &j.model_id)?;
        Ok(JobSpec {
            key: j.key.clone(),
            task_id: task.task_id.clone(),
            suite_digest: task.suite_digest.clone(),
            harness_id: harness.harness_id.clone(),
            trial: j.trial,
            seed: j.seed,
            model_id: j.model_id.clone(),
            run_id: j.run_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::decode;
    use prost::Message;
    use selfharness_core::trace::EndReason;

    fn sample() -> Evaluation {
        Evaluation {
            key: "e-1".into(),
            task_id: "t".into(),
            harness_id: "h".into(),
            model_id: "m".into(),
            trial: 3,
            seed: 9,
            status: EvalStatus::Failed,
            reward: Some(0.0),
            end: Some(EndReason::CommandTimeout),
            turns: 4,
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 2,
            },
            wall_ms: 1234,
            trace: Some("e-1.json".into()),
            error: None,
        }
    }

    #[test]
    fn an_evaluation_survives_the_wire() {
        let e = sample();
        let bytes = eval_result(&e, "v1", 2).encode_to_vec();
        let r: v1::EvalResult = decode("EvalResult", &bytes).unwrap();
        assert_eq!((r.validator.as_str(), r.delivery), ("v1", 2));
        let back = evaluation(&r).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn a_bad_result_names_the_field() {
        let mut r = eval_result(&sample(), "v", 1);
        r.end = "exploded".into();
        let err = evaluation(&r).unwrap_err().to_string();
        assert!(err.contains("EvalResult") && err.contains("`end`"), "{err}");
        let err = decode::<v1::EvalResult>("EvalResult", b"\xff\xff").unwrap_err();
        assert!(err.to_string().contains("decoding EvalResult"), "{err}");
    }

    #[test]
    fn a_job_spec_round_trips_and_carries_its_content_key() {
        let spec = JobSpec {
            key: String::new(),
            task_id: "csv-column-sum".into(),
            suite_digest: "s-0123".into(),
            harness_id: "h-abc".into(),
            trial: 2,
            seed: 7,
            model_id: "scripted/default@1".into(),
            run_id: "run-1".into(),
        };
        let spec = JobSpec {
            key: spec.expected_key(),
            ..spec
        };
        let back = JobSpec::from_proto(&spec.to_proto()).unwrap();
        assert_eq!(back, spec);
        assert_eq!(
            back.key,
            eval_key("h-abc", "csv-column-sum", "scripted/default@1", 2, 7)
        );
    }

    #[test]
    fn a_job_without_a_harness_names_the_field() {
        let mut j = JobSpec {
            key: "e-1".into(),
            task_id: "t".into(),
            suite_digest: String::new(),
            harness_id: "h".into(),
            trial: 0,
            seed: 0,
            model_id: "m".into(),
            run_id: String::new(),
        }
        .to_proto();
        j.harness = None;
        let err = JobSpec::from_proto(&j).unwrap_err().to_string();
        assert_eq!(err, "EvalJob: field `harness`: missing");
        j.harness = Some(v1::HarnessRef::default());
        let err = JobSpec::from_proto(&j).unwrap_err().to_string();
        assert_eq!(err, "EvalJob: field `harness.harness_id`: empty");
    }
}
