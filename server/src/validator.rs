//! `selfharness.v1.Validator` over gRPC: one direct, unqueued evaluation per call. The server
//! holds the model, the suite and the directories; a job names a task and a harness by
//! reference. Before running anything it refuses a job meant for another model or another
//! suite (`FAILED_PRECONDITION`), one naming a task or harness it does not have (`NOT_FOUND`),
//! and one whose key is not the content address of its parts (`INVALID_ARGUMENT`). The
//! evaluation itself is `selfharness_core::eval::evaluate`, on `spawn_blocking`, at most
//! `jobs` at once. This module never judges a result: it reports what the evaluation says.

use crate::store::{HarnessStore, StoreError};
use crate::{blocking, decode, refuse, request_span, Result};
use selfharness_core::eval::{evaluate, EvalDirs, EvalJob};
use selfharness_core::model::Model;
use selfharness_core::task::Suite;
use selfharness_proto::convert::{eval_result, JobSpec};
use selfharness_proto::v1;
use selfharness_proto::v1::validator_server::{Validator, ValidatorServer};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};
use tracing::Instrument;

/// Evaluations one validator runs at once unless told otherwise (as `selfharness eval`).
pub const DEFAULT_JOBS: usize = 8;

/// The validator stage as a gRPC service.
#[derive(Clone)]
pub struct ValidatorService {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    /// The model every evaluation uses; jobs for another model id are refused.
    model: Arc<dyn Model>,
    /// `model.id()`, computed once.
    model_id: String,
    /// The tasks this validator can run.
    suite: Suite,
    /// [`selfharness_proto::suite_digest`] of `suite`; jobs for another suite are refused.
    suite_digest: String,
    /// Where sandboxes and traces go.
    dirs: EvalDirs,
    /// Where harness documents come from, by id.
    harnesses: Arc<dyn HarnessStore>,
    /// Reported in every result's `validator` field.
    name: String,
    /// Bounds evaluations running at once (episodes run real commands).
    slots: Arc<Semaphore>,
}

impl ValidatorService {
    /// A validator for `model` on `suite`. Computes the suite digest (reads every task file).
    pub fn new(
        model: Arc<dyn Model>,
        suite: Suite,
        dirs: EvalDirs,
        harnesses: Arc<dyn HarnessStore>,
    ) -> Result<Self> {
        let suite_digest = selfharness_proto::suite_digest(&suite)?;
        Ok(ValidatorService {
            inner: Arc::new(Inner {
                model_id: model.id(),
                model,
                suite,
                suite_digest,
                dirs,
                harnesses,
                name: "grpc-validator".into(),
                slots: Arc::new(Semaphore::new(DEFAULT_JOBS)),
            }),
        })
    }

    /// Name this validator in results (default `grpc-validator`). Call before serving.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).name = name.into();
        self
    }

    /// Run at most `n` evaluations at once (default [`DEFAULT_JOBS`]). Call before serving.
    pub fn jobs(mut self, n: usize) -> Self {
        Arc::make_mut(&mut self.inner).slots = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    pub fn model_id(&self) -> &str {
        &self.inner.model_id
    }

    pub fn suite_digest(&self) -> &str {
        &self.inner.suite_digest
    }

    pub fn into_server(self) -> ValidatorServer<Self> {
        ValidatorServer::new(self)
    }

    /// Why this validator must not run `job`, if it must not.
    fn precondition(&self, job: &JobSpec) -> Result<(), Status> {
        let i = &self.inner;
        if job.model_id != i.model_id {
            return Err(Status::failed_precondition(format!(
                "EvalJob: field `model_id`: this validator serves model {:?}, the job expects {:?}",
                i.model_id, job.model_id
            )));
        }
        if job.suite_digest != i.suite_digest {
            return Err(Status::failed_precondition(format!(
                "EvalJob: field `task.suite_digest`: this validator holds suite {} ({}), the job expects {:?}",
                i.suite_digest,
                i.suite.dir.display(),
                job.suite_digest
            )));
        }
        let expected = job.expected_key();
        if job.key != expected {
            return Err(Status::invalid_argument(format!(
                "EvalJob: field `key`: {:?} is not the content address of (harness, task, model, trial, seed), {expected:?}",
                job.key
            )));
        }
        Ok(())
    }
}

fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::Unavailable(_) => Status::unavailable(e.to_string()),
        StoreError::Corrupt { .. } => Status::data_loss(e.to_string()),
    }
}

#[tonic::async_trait]
impl Validator for ValidatorService {
    async fn evaluate(
        &self,
        request: Request<v1::EvalJob>,
    ) -> Result<Response<v1::EvalResult>, Status> {
        let span = request_span("selfharness.v1.Validator/Evaluate", &request);
        let spec: JobSpec = decode(&span, request.get_ref())?;
        span.record("subject", spec.key.as_str());
        self.precondition(&spec).map_err(|s| refuse(&span, s))?;
        let i = self.inner.clone();
        let task = i.suite.get(&spec.task_id).cloned().ok_or_else(|| {
            refuse(
                &span,
                Status::not_found(format!(
                    "EvalJob: field `task.task_id`: task {:?} is not in the suite",
                    spec.task_id
                )),
            )
        })?;
        let harness = i
            .harnesses
            .get(&spec.harness_id)
            .instrument(span.clone())
            .await
            .map_err(|e| refuse(&span, store_status(e)))?
            .ok_or_else(|| {
                refuse(
                    &span,
                    Status::not_found(format!(
                        "EvalJob: field `harness.harness_id`: harness {} is not in the harness store",
                        spec.harness_id
                    )),
                )
            })?;
        if harness.id() != spec.harness_id {
            return Err(refuse(
                &span,
                store_status(StoreError::Corrupt {
                    id: spec.harness_id.clone(),
                    reason: format!("the document's id is {}", harness.id()),
                }),
            ));
        }
        let _slot = i
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Status::unavailable("the validator is shutting down"))?;
        let job = EvalJob {
            task,
            harness: Arc::new(harness),
            trial: spec.trial,
            seed: spec.seed,
        };
        let name = i.name.clone();
        let ev = blocking(span, "evaluation", move || {
            let ev = evaluate(&job, &*i.model, &i.dirs);
            tracing::info!(
                key = %ev.key,
                task_id = %ev.task_id,
                status = ?ev.status,
                reward = ?ev.reward,
                wall_ms = ev.wall_ms,
                "evaluation done"
            );
            ev
        })
        .await?;
        Ok(Response::new(eval_result(&ev, &name, 1)))
    }
}
