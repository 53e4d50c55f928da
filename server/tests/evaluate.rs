//! `Validator.Evaluate` over real gRPC: a real evaluation (scripted model, built-in suite,
//! bubblewrap sandbox) whose result and trace equal `eval::evaluate` run in process, and the
//! refusals that come before anything runs.

mod common;

use common::{all_services, dirs, suite, TestServer};
use selfharness_core::eval::{episode_seed, evaluate, EvalJob, Evaluation};
use selfharness_core::harness::Harness;
use selfharness_core::model::scripted::{FlawKind, FlawProfile, ScriptedModel};
use selfharness_core::model::Model;
use selfharness_core::task::Split;
use selfharness_core::trace::Trace;
use selfharness_miner::{mine, MineRequest, Weakness};
use selfharness_proto::convert::{evaluation, JobSpec};
use selfharness_proto::v1::miner_client::MinerClient;
use selfharness_proto::v1::validator_client::ValidatorClient;
use selfharness_proto::{suite_digest, FromProto, ToProto};
use std::collections::BTreeMap;
use std::sync::Arc;
use tonic::Code;

const SEED: u64 = 1;

/// A validation task and trial whose episode has a planted `ignore_failure` and no `hang`
/// (so it ends in seconds, not at the 10 s command limit).
fn job(model: &ScriptedModel) -> EvalJob {
    let suite = suite();
    for trial in 0..16 {
        for task in suite.split(Split::Validation) {
            let planted = model.planted(&task.instruction, episode_seed(SEED, &task.id, trial));
            if planted.contains(&FlawKind::IgnoreFailure) && !planted.contains(&FlawKind::Hang) {
                return EvalJob {
                    task: task.clone(),
                    harness: Arc::new(Harness::builtin_default()),
                    trial,
                    seed: SEED,
                };
            }
        }
    }
    panic!("no validation episode plants ignore_failure without hang");
}

/// What must be equal between two runs of one evaluation: everything but the clocks.
fn timeless(mut e: Evaluation) -> Evaluation {
    e.wall_ms = 0;
    e
}

fn timeless_trace(mut t: Trace) -> Trace {
    t.wall_ms = 0;
    for s in &mut t.steps {
        s.model_ms = 0;
        s.tool_ms = 0;
    }
    t
}

#[tokio::test]
async fn evaluate_runs_a_real_evaluation_equal_to_the_in_process_one() {
    let (served, local) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = TestServer::start(all_services(served.path())).await;
    let suite = suite();
    let model = ScriptedModel::new(&suite, FlawProfile::builtin_default());
    let job = job(&model);
    let spec = JobSpec::of(
        &job,
        &model.id(),
        &suite_digest(&suite).unwrap(),
        "run-test",
    );

    let mut client = ValidatorClient::new(server.channel().await);
    let result = client.evaluate(spec.to_proto()).await.unwrap().into_inner();
    assert_eq!(
        (result.validator.as_str(), result.delivery),
        ("test-validator", 1)
    );
    let remote = evaluation(&result).unwrap();
    assert_eq!(remote.key, spec.key, "the result carries the job's key");

    let in_process = {
        let (job, dirs) = (job.clone(), dirs(local.path()));
        tokio::task::spawn_blocking(move || evaluate(&job, &model, &dirs))
            .await
            .unwrap()
    };
    assert!(remote.error.is_none(), "{remote:?}");
    assert!(
        remote.reward.is_some() && remote.end.is_some() && remote.turns >= 2,
        "{remote:?}"
    );
    assert_eq!(timeless(remote.clone()), timeless(in_process.clone()));

    let name = remote.trace.clone().expect("a trace was written");
    let trace = Trace::load(&dirs(served.path()).traces.join(&name)).unwrap();
    let local_trace = Trace::load(&dirs(local.path()).traces.join(&name)).unwrap();
    assert!(
        trace
            .steps
            .iter()
            .any(|s| s.exit_code.is_some_and(|c| c != 0)),
        "the planted failed command ran in the sandbox: {trace:#?}"
    );
    assert_eq!(timeless_trace(trace.clone()), timeless_trace(local_trace));

    // The real trace through the Miner service: the same weaknesses as in process.
    let traces = [trace];
    let instructions = BTreeMap::from([(job.task.id.clone(), job.task.instruction.clone())]);
    let req = MineRequest {
        traces: &traces,
        instructions: &instructions,
    };
    let mut miner = MinerClient::new(server.channel().await);
    let answer = miner.mine(req.to_proto()).await.unwrap().into_inner();
    assert_eq!(Vec::<Weakness>::from_proto(&answer).unwrap(), mine(&req));
    server.stop().await;
}

#[tokio::test]
async fn evaluate_refuses_a_job_for_another_model_suite_task_or_harness() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(all_services(dir.path())).await;
    let suite = suite();
    let model = ScriptedModel::new(&suite, FlawProfile::builtin_default());
    let job = job(&model);
    let good = JobSpec::of(&job, &model.id(), &suite_digest(&suite).unwrap(), "");
    let mut client = ValidatorClient::new(server.channel().await);
    let refused = |spec: JobSpec| {
        let mut client = client.clone();
        async move { client.evaluate(spec.to_proto()).await.unwrap_err() }
    };

    let other_model = JobSpec::of(&job, "openai/gpt", &good.suite_digest, "");
    let err = refused(other_model).await;
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .starts_with("EvalJob: field `model_id`: this validator serves model"),
        "{}",
        err.message()
    );

    let other_suite = JobSpec::of(&job, &model.id(), "s-0000000000000000", "");
    let err = refused(other_suite).await;
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("`task.suite_digest`"),
        "{}",
        err.message()
    );

    let bad_key = JobSpec {
        key: "e-0000000000000000".into(),
        ..good.clone()
    };
    let err = refused(bad_key).await;
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("EvalJob: field `key`"),
        "{}",
        err.message()
    );

    let mut unknown = job.clone();
    unknown.task.id = "no-such-task".into();
    let err = refused(JobSpec::of(&unknown, &model.id(), &good.suite_digest, "")).await;
    assert_eq!(err.code(), Code::NotFound);
    assert!(
        err.message().contains("\"no-such-task\""),
        "{}",
        err.message()
    );

    let mut unstored = job.clone();
    let mut h = Harness::builtin_default();
    h.limits.max_turns = 7;
    unstored.harness = Arc::new(h);
    let err = refused(JobSpec::of(&unstored, &model.id(), &good.suite_digest, "")).await;
    assert_eq!(err.code(), Code::NotFound);
    assert!(
        err.message().contains("not in the harness store"),
        "{}",
        err.message()
    );

    let mut missing = good.to_proto();
    missing.task = None;
    let err = client.evaluate(missing).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "EvalJob: field `task`: missing");
    server.stop().await;
}
