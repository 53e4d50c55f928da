//! The validator role: pulls evaluation jobs from the shared durable consumer, runs each one
//! (the domain's `eval::evaluate`), stores its trace and publishes its result durably, and only
//! then acks the job. While a job runs it sends progress acks, so only a validator that died
//! or hung lets the ack wait lapse and the job be redelivered. It never decides anything about
//! a result: it only produces it.

use crate::{assets, results_subject, Assets, Delivery, Error, Result};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use prost::Message as _;
use selfharness_core::eval::{evaluate, EvalDirs, EvalJob};
use selfharness_core::harness::Harness;
use selfharness_core::model::Model;
use selfharness_core::task::Suite;
use selfharness_proto::convert::JobSpec;
use selfharness_proto::{convert, v1, FromProto};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Name in results and logs (host name, container id …).
    pub name: String,
    /// Jobs evaluated at once by this validator.
    pub concurrency: usize,
    pub delivery: Delivery,
}

struct Ctx {
    cfg: WorkerConfig,
    assets: Assets,
    suite: Suite,
    digest: String,
    model: Arc<dyn Model>,
    dirs: EvalDirs,
    harnesses: Mutex<HashMap<String, Arc<Harness>>>,
}

/// Run the validator until `shutdown` resolves (jobs in progress are not acked, so the bus
/// redelivers them to another validator).
pub async fn run(
    client: async_nats::Client,
    suite: Suite,
    model: Arc<dyn Model>,
    dirs: EvalDirs,
    cfg: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let assets = assets(client, cfg.delivery).await?;
    let ctx = Arc::new(Ctx {
        digest: selfharness_proto::suite_digest(&suite)?,
        cfg,
        assets,
        suite,
        model,
        dirs,
        harnesses: Mutex::new(HashMap::new()),
    });
    tracing::info!(validator = %ctx.cfg.name, concurrency = ctx.cfg.concurrency, model = %ctx.model.id(), suite = %ctx.digest, "validator ready");
    let mut slots = Vec::new();
    for _ in 0..ctx.cfg.concurrency.max(1) {
        let ctx = ctx.clone();
        slots.push(tokio::spawn(async move { slot(ctx).await }));
    }
    shutdown.await;
    for s in &slots {
        s.abort();
    }
    Ok(())
}

/// One evaluation at a time: fetch one job, run it, repeat. A slot asks for a job only when it
/// is free (one at a time, never a batch it cannot start), so a busy validator never holds jobs
/// another could run. Storing a finished job's trace and result and acking it happen beside
/// the next job, not before it is fetched (issue #5: those round trips were per-evaluation
/// overhead).
async fn slot(ctx: Arc<Ctx>) {
    loop {
        let batch = ctx
            .assets
            .consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(2))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "fetching jobs failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(msg) = batch.next().await {
            match msg {
                Ok(msg) => {
                    if let Some(done) = handle(&ctx, msg).await {
                        tokio::spawn(finish(ctx.clone(), done));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "receiving a job failed"),
            }
        }
    }
}

/// A job whose evaluation is over (or that was refused): what is left is to store its trace
/// and result and ack it.
struct Done {
    job: v1::EvalJob,
    msg: jetstream::Message,
    result: v1::EvalResult,
    /// Trace file to store before the result that names it.
    trace: Option<String>,
    delivery: u32,
}

/// Run one job; `None` when it was handed back or terminated instead of answered.
async fn handle(ctx: &Arc<Ctx>, msg: jetstream::Message) -> Option<Done> {
    let delivery = msg.info().map(|i| i.delivered as u32).unwrap_or(1);
    let job: v1::EvalJob = match convert::decode("EvalJob", &msg.payload) {
        Ok(j) => j,
        Err(e) => {
            // Not answerable (no key to answer under): terminate it, loudly.
            tracing::error!(subject = %msg.subject, error = %e, "malformed job terminated");
            let _ = msg.ack_with(AckKind::Term).await;
            return None;
        }
    };
    if let Some(reason) = misaddressed(&job) {
        // Wrong for every validator: refuse it here, as the gRPC validator does, with an
        // infrastructure failure under the job's key, so the coordinator is not left waiting.
        let result = error_result(ctx, &job, delivery, reason);
        return Some(Done {
            job,
            msg,
            result,
            trace: None,
            delivery,
        });
    }
    let digest = job.task.as_ref().map(|t| t.suite_digest.as_str());
    if job.model_id != ctx.model.id() || digest != Some(ctx.digest.as_str()) {
        // Another validator may hold the right model and suite: hand it back.
        tracing::warn!(key = %job.key, job_model = %job.model_id, job_suite = ?digest, "job for another model or suite; handing it back");
        let _ = msg
            .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
            .await;
        return None;
    }
    let mut trace = None;
    let result = match prepare(ctx, &job).await {
        Ok(eval_job) => {
            let progress = {
                let wait = ctx.cfg.delivery.ack_wait;
                let ack_subject = msg.reply.clone();
                let client = ctx.assets.js.clone();
                tokio::spawn(async move {
                    let every = (wait / 3).max(Duration::from_millis(200));
                    loop {
                        tokio::time::sleep(every).await;
                        if let Some(s) = &ack_subject {
                            let _ = client.publish(s.clone(), AckKind::Progress.into()).await;
                        }
                    }
                })
            };
            let (model, dirs) = (ctx.model.clone(), ctx.dirs.clone());
            // The job's span: its `evaluation` (and that one's turns) nest under it.
            let span =
                tracing::info_span!("job", key = %job.key, validator = %ctx.cfg.name, delivery);
            let ev = tokio::task::spawn_blocking(move || {
                span.in_scope(|| evaluate(&eval_job, &*model, &dirs))
            })
            .await;
            progress.abort();
            match ev {
                Ok(ev) if ev.key != job.key => error_result(
                    ctx,
                    &job,
                    delivery,
                    format!("the evaluation's key {} differs from the job's", ev.key),
                ),
                Ok(ev) => {
                    trace = ev.trace.clone();
                    convert::eval_result(&ev, &ctx.cfg.name, delivery)
                }
                Err(e) => error_result(ctx, &job, delivery, format!("evaluation panicked: {e}")),
            }
        }
        Err(reason) => error_result(ctx, &job, delivery, reason),
    };
    Some(Done {
        job,
        msg,
        result,
        trace,
        delivery,
    })
}

/// Store the trace, then the result durably, then ack: a crash in between redelivers the job,
/// and the coordinator's idempotence by key absorbs the second result.
async fn finish(ctx: Arc<Ctx>, done: Done) {
    let Done {
        job,
        msg,
        result,
        trace,
        delivery,
    } = done;
    if let Some(name) = &trace {
        if let Err(e) = upload_trace(&ctx, name).await {
            tracing::warn!(key = %job.key, error = %e, "trace upload failed");
        }
    }
    if let Err(e) = publish_result(&ctx.assets.js, &job.run_id, &result).await {
        tracing::error!(key = %job.key, error = %e, "result not stored; job left for redelivery");
        return;
    }
    if let Err(e) = msg.double_ack().await {
        tracing::warn!(key = %job.key, error = %e, "ack failed (the job may be redelivered; its result is stored)");
    }
    tracing::info!(key = %job.key, status = result.status, delivery, "evaluation done");
}

/// Why `job` must not run anywhere, if its key is not the content address of its parts
/// (harness, task, model, trial, seed). A job missing a part is left to [`prepare`], which
/// names the part.
fn misaddressed(job: &v1::EvalJob) -> Option<String> {
    let spec = JobSpec::from_proto(job).ok()?;
    let expected = spec.expected_key();
    (spec.key != expected).then(|| {
        format!(
            "EvalJob: field `key`: {:?} is not the content address of (harness, task, model, trial, seed), {expected:?}",
            spec.key
        )
    })
}

pub(crate) async fn publish_result(
    js: &jetstream::Context,
    run: &str,
    result: &v1::EvalResult,
) -> Result<()> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", result.key.as_str());
    js.publish_with_headers(results_subject(run), headers, result.encode_to_vec().into())
        .await
        .map_err(|e| Error::Nats {
            what: "publishing a result".into(),
            reason: e.to_string(),
        })?
        .await
        .map_err(|e| Error::Nats {
            what: "storing a result".into(),
            reason: e.to_string(),
        })?;
    Ok(())
}

fn error_result(ctx: &Ctx, job: &v1::EvalJob, delivery: u32, reason: String) -> v1::EvalResult {
    tracing::error!(key = %job.key, %reason, "evaluation could not run");
    infrastructure_failure(job, &ctx.cfg.name, delivery, reason)
}

/// A result recording an infrastructure failure for `job` (never an agent failure).
pub fn infrastructure_failure(
    job: &v1::EvalJob,
    by: &str,
    delivery: u32,
    reason: String,
) -> v1::EvalResult {
    v1::EvalResult {
        key: job.key.clone(),
        task_id: job
            .task
            .as_ref()
            .map(|t| t.task_id.clone())
            .unwrap_or_default(),
        harness_id: job
            .harness
            .as_ref()
            .map(|h| h.harness_id.clone())
            .unwrap_or_default(),
        model_id: job.model_id.clone(),
        trial: job.trial,
        seed: job.seed,
        status: v1::EvalStatus::Error as i32,
        error: reason,
        validator: by.to_string(),
        delivery,
        ..Default::default()
    }
}

/// Resolve the job's task and harness; an error names what is missing.
async fn prepare(ctx: &Ctx, job: &v1::EvalJob) -> Result<EvalJob, String> {
    let task_id = job.task.as_ref().map(|t| t.task_id.as_str()).unwrap_or("");
    let task = ctx
        .suite
        .tasks
        .iter()
        .find(|t| t.id == task_id)
        .cloned()
        .ok_or_else(|| {
            format!("EvalJob: field `task.task_id`: no task {task_id:?} in this validator's suite")
        })?;
    let hid = job
        .harness
        .as_ref()
        .map(|h| h.harness_id.clone())
        .unwrap_or_default();
    let cached = ctx
        .harnesses
        .lock()
        .expect("harness cache")
        .get(&hid)
        .cloned();
    let harness = match cached {
        Some(h) => h,
        None => {
            let entry = ctx
                .assets
                .harnesses
                .get(&hid)
                .await
                .map_err(|e| format!("reading harness {hid} from the bucket: {e}"))?
                .ok_or_else(|| {
                    format!(
                        "EvalJob: field `harness.harness_id`: {hid:?} is not in the harness bucket"
                    )
                })?;
            let text = String::from_utf8_lossy(&entry).into_owned();
            let h = Harness::from_toml(Path::new(&format!("bucket:{hid}")), &text)
                .map_err(|e| e.to_string())?;
            if h.id() != hid {
                return Err(format!(
                    "harness bucket entry {hid} holds a document whose id is {}",
                    h.id()
                ));
            }
            let h = Arc::new(h);
            ctx.harnesses
                .lock()
                .expect("harness cache")
                .insert(hid.clone(), h.clone());
            h
        }
    };
    Ok(EvalJob {
        task,
        harness,
        trial: job.trial,
        seed: job.seed,
    })
}

async fn upload_trace(ctx: &Ctx, name: &str) -> Result<()> {
    let path = ctx.dirs.traces.join(name);
    let mut file = tokio::fs::File::open(&path).await?;
    ctx.assets
        .traces
        .put(name, &mut file)
        .await
        .map_err(|e| Error::Nats {
            what: format!("storing trace {name}"),
            reason: e.to_string(),
        })?;
    let _ = tokio::fs::remove_file(&path).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_nats::jetstream::consumer;
    use selfharness_core::model::scripted::{FlawProfile, ScriptedModel};
    use selfharness_proto::ToProto;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// A `nats-server -js` on a free port with its store in a temp dir; killed on drop.
    struct Nats {
        child: Child,
        url: String,
        _store: tempfile::TempDir,
    }

    impl Nats {
        fn start() -> Nats {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let store = tempfile::tempdir().unwrap();
            let child = Command::new("nats-server")
                .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
                .arg(store.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server is installed (bash scripts/setup.sh)");
            let t0 = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    t0.elapsed() < Duration::from_secs(10),
                    "nats-server did not start"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            Nats {
                child,
                url: format!("nats://127.0.0.1:{port}"),
                _store: store,
            }
        }
    }

    impl Drop for Nats {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn one_task_suite(dir: &Path) -> Suite {
        let t = dir.join("echo-ok");
        std::fs::create_dir_all(t.join("tests")).unwrap();
        std::fs::create_dir_all(t.join("solution")).unwrap();
        std::fs::write(t.join("instruction.md"), "Write ok to /app/ok.txt.").unwrap();
        std::fs::write(t.join("task.toml"), "schema_version = \"1.1\"\n").unwrap();
        std::fs::write(t.join("solution/solve.sh"), "echo ok > /app/ok.txt\n").unwrap();
        std::fs::write(
            t.join("tests/test.sh"),
            "mkdir -p /logs/verifier; echo 1 > /logs/verifier/reward.txt\n",
        )
        .unwrap();
        Suite::load(dir).unwrap()
    }

    // Issue #5: the worker refuses a job whose key is not the content address of its parts,
    // as the gRPC validator does: an infrastructure failure under the job's key (so the
    // coordinator is not left waiting, and it never counts as an agent failure), and the job
    // acked. Before, it ran the job and published the result under another key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_whose_key_is_not_its_content_address_is_refused_and_acked() {
        let nats = Nats::start();
        let dir = tempfile::tempdir().unwrap();
        let suite = one_task_suite(&dir.path().join("suite"));
        let model: Arc<dyn Model> =
            Arc::new(ScriptedModel::new(&suite, FlawProfile::builtin_default()));
        let client = crate::connect(&nats.url).await.unwrap();
        let a = assets(client.clone(), Delivery::default()).await.unwrap();
        // The harness is stored, so without the check the job would run.
        let harness = Harness::builtin_default();
        a.harnesses
            .put(harness.id(), harness.to_toml().into_bytes().into())
            .await
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(run(
            client,
            suite.clone(),
            model.clone(),
            EvalDirs {
                sandboxes: dir.path().join("sandboxes"),
                traces: dir.path().join("traces"),
            },
            WorkerConfig {
                name: "test-validator".into(),
                concurrency: 1,
                delivery: Delivery::default(),
            },
            async move {
                let _ = stopped.await;
            },
        ));
        let mut spec = JobSpec {
            key: String::new(),
            task_id: "echo-ok".into(),
            suite_digest: selfharness_proto::suite_digest(&suite).unwrap(),
            harness_id: harness.id(),
            trial: 0,
            seed: 1,
            model_id: model.id(),
            run_id: "r1".into(),
        };
        let good = spec.expected_key();
        spec.key = "e-0123456789abcdef".into();
        assert_ne!(spec.key, good);
        a.js.publish(
            crate::jobs_subject("r1"),
            spec.to_proto().encode_to_vec().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();

        let results = a
            .results
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: results_subject("r1"),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut messages = results.messages().await.unwrap();
        let msg = tokio::time::timeout(Duration::from_secs(20), messages.next())
            .await
            .expect("a result within 20 s")
            .unwrap()
            .unwrap();
        let r: v1::EvalResult = convert::decode("EvalResult", &msg.payload).unwrap();
        assert_eq!(r.key, spec.key);
        assert_eq!(r.status, v1::EvalStatus::Error as i32);
        assert!(
            r.error.contains("field `key`") && r.error.contains(&good),
            "{}",
            r.error
        );
        assert_eq!((r.wall_ms, r.trace.as_str()), (0, ""), "nothing ran");

        let mut jobs = a.consumer.clone();
        let t0 = Instant::now();
        loop {
            let info = jobs.info().await.unwrap();
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "job not acked: {info:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(500), messages.next())
                .await
                .is_err(),
            "exactly one result"
        );
        let _ = stop.send(());
        worker.await.unwrap().unwrap();
    }
}
