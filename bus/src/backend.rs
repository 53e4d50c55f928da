//! [`NatsBackend`]: the coordinator's `Backend` over the bus. Jobs are published to the work
//! queue (harness documents first put in the bucket); results are read back from the durable
//! result stream, each stored exactly once by evaluation key however often it arrives (a
//! redelivered job's second result is counted and dropped). A job the bus dead-letters after its
//! maximum deliveries comes back as an infrastructure failure, never as an agent failure.
//! Because results are durable, a restarted coordinator finds every result already produced.
//! A result is handed over as soon as it is read: its trace is downloaded into the run's
//! directory in the background, a few at once, or on demand when [`Backend::trace_path`] asks
//! for it first, so no result waits on a trace (issue #5: with a download per result on the
//! result path, the reader handled a few hundred results per second).

use crate::worker::{infrastructure_failure, publish_result};
use crate::{
    assets, dead_letter_subject, jobs_subject, results_subject, Assets, Delivery, Error, Result,
};
use async_nats::jetstream::consumer;
use futures::StreamExt;
use prost::Message as _;
use selfharness_coordinator::Backend;
use selfharness_core::eval::{eval_key, EvalJob, Evaluation};
use selfharness_core::harness::Harness;
use selfharness_proto::{convert, v1};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// Traces downloaded at once in the background.
const TRACE_DOWNLOADS: usize = 4;

/// Results by key, and who waits for which key.
#[derive(Default)]
struct Router {
    arrived: HashMap<String, Evaluation>,
    waiting: HashMap<String, Vec<mpsc::Sender<Evaluation>>>,
}

pub struct NatsBackend {
    rt: tokio::runtime::Runtime,
    assets: Assets,
    run_id: String,
    model_id: String,
    suite_digest: String,
    traces_dir: PathBuf,
    router: Arc<Mutex<Router>>,
    stored_harnesses: Mutex<BTreeSet<String>>,
    /// Set when the backend is dropped, so the background tasks end quietly.
    closing: Arc<AtomicBool>,
    /// Result messages read from the stream so far, duplicates included.
    pub results_read: Arc<AtomicU64>,
    /// Results that arrived for a key already stored (redeliveries): counted, not used.
    pub duplicates: Arc<AtomicU64>,
    /// Jobs dead-lettered after their maximum deliveries.
    pub dead_letters: Arc<AtomicU64>,
}

impl NatsBackend {
    /// Connect to `url` for run `run_id`; results stream in from the first one ever stored for
    /// the run (so a resumed coordinator sees everything), traces are fetched into
    /// `traces_dir`.
    pub fn connect(
        url: &str,
        run_id: &str,
        model_id: String,
        suite_digest: String,
        traces_dir: PathBuf,
        delivery: Delivery,
    ) -> Result<NatsBackend> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        std::fs::create_dir_all(&traces_dir)?;
        let router = Arc::new(Mutex::new(Router::default()));
        let results_read = Arc::new(AtomicU64::new(0));
        let duplicates = Arc::new(AtomicU64::new(0));
        let dead_letters = Arc::new(AtomicU64::new(0));
        let closing = Arc::new(AtomicBool::new(false));
        let assets = rt.block_on(async {
            let client = crate::connect(url).await?;
            let assets = assets(client.clone(), delivery).await?;
            let (traces_tx, traces_rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(download_traces(
                traces_rx,
                assets.traces.clone(),
                traces_dir.clone(),
                closing.clone(),
            ));
            tokio::spawn(read_results(
                assets.results.clone(),
                results_subject(run_id),
                traces_tx,
                router.clone(),
                results_read.clone(),
                duplicates.clone(),
                closing.clone(),
            ));
            let advisories =
                client
                    .subscribe(dead_letter_subject())
                    .await
                    .map_err(|e| Error::Nats {
                        what: "subscribing to dead-letter advisories".into(),
                        reason: e.to_string(),
                    })?;
            tokio::spawn(dead_lettered(
                advisories,
                assets.jobs.clone(),
                assets.js.clone(),
                run_id.to_string(),
                dead_letters.clone(),
            ));
            Ok::<_, Error>(assets)
        })?;
        Ok(NatsBackend {
            rt,
            assets,
            run_id: run_id.to_string(),
            model_id,
            suite_digest,
            traces_dir,
            router,
            stored_harnesses: Mutex::new(BTreeSet::new()),
            closing,
            results_read,
            duplicates,
            dead_letters,
        })
    }

    /// Publish `jobs` as (key, harness id, job), each harness document first.
    async fn publish_jobs(&self, jobs: &[(String, String, &EvalJob)]) -> Result<()> {
        let fresh: Vec<_> = {
            let mut stored = self.stored_harnesses.lock().expect("harness set");
            jobs.iter()
                .filter(|(_, hid, _)| stored.insert(hid.clone()))
                .map(|(_, hid, j)| (hid, j.harness.clone()))
                .collect()
        };
        for (hid, h) in fresh {
            let stored = self
                .assets
                .harnesses
                .put(hid, h.to_toml().into_bytes().into())
                .await;
            if let Err(e) = stored {
                self.stored_harnesses
                    .lock()
                    .expect("harness set")
                    .remove(hid);
                return Err(Error::Nats {
                    what: format!("storing harness {hid}"),
                    reason: e.to_string(),
                });
            }
        }
        let mut acks = Vec::new();
        for (key, hid, j) in jobs {
            let msg = v1::EvalJob {
                key: key.clone(),
                task: Some(v1::TaskRef {
                    task_id: j.task.id.clone(),
                    suite_digest: self.suite_digest.clone(),
                }),
                harness: Some(v1::HarnessRef {
                    harness_id: hid.clone(),
                }),
                trial: j.trial,
                seed: j.seed,
                model_id: self.model_id.clone(),
                run_id: self.run_id.clone(),
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", key.as_str());
            let ack = self
                .assets
                .js
                .publish_with_headers(
                    jobs_subject(&self.run_id),
                    headers,
                    msg.encode_to_vec().into(),
                )
                .await
                .map_err(|e| Error::Nats {
                    what: "publishing a job".into(),
                    reason: e.to_string(),
                })?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|e| Error::Nats {
                what: "storing a job".into(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}

impl Backend for NatsBackend {
    fn model_id(&self) -> String {
        self.model_id.clone()
    }

    fn evaluate(
        &self,
        jobs: Vec<EvalJob>,
        on_done: &(dyn Fn(&Evaluation) + Sync),
    ) -> Vec<Evaluation> {
        // A harness id hashes the whole document: once per harness, not once per job.
        let mut ids: HashMap<*const Harness, String> = HashMap::new();
        let hids: Vec<String> = jobs
            .iter()
            .map(|j| {
                ids.entry(Arc::as_ptr(&j.harness))
                    .or_insert_with(|| j.harness.id())
                    .clone()
            })
            .collect();
        let keys: Vec<String> = jobs
            .iter()
            .zip(&hids)
            .map(|(j, hid)| eval_key(hid, &j.task.id, &self.model_id, j.trial, j.seed))
            .collect();
        let (tx, rx) = mpsc::channel();
        let mut to_publish = Vec::new();
        let mut queued = HashSet::new();
        let mut have: HashMap<String, Evaluation> = HashMap::new();
        {
            let mut r = self.router.lock().expect("router");
            for ((k, hid), j) in keys.iter().zip(&hids).zip(&jobs) {
                if have.contains_key(k) {
                    continue;
                }
                if let Some(ev) = r.arrived.get(k) {
                    have.insert(k.clone(), ev.clone());
                    on_done(ev);
                } else if queued.insert(k.as_str()) {
                    r.waiting.entry(k.clone()).or_default().push(tx.clone());
                    to_publish.push((k.clone(), hid.clone(), j));
                }
            }
        }
        drop(tx);
        let mut pending = to_publish.len();
        // Publishing can fail while the server restarts: keep trying; results are idempotent.
        while let Err(e) = self.rt.block_on(self.publish_jobs(&to_publish)) {
            tracing::warn!(error = %e, "publishing jobs failed; retrying");
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        while pending > 0 {
            let ev = rx
                .recv()
                .expect("the result reader lives as long as the backend");
            if !have.contains_key(&ev.key) {
                on_done(&ev);
                have.insert(ev.key.clone(), ev);
                pending -= 1;
            }
        }
        keys.iter().map(|k| have[k].clone()).collect()
    }

    /// The trace's file in the run's directory; when the background download has not brought
    /// it yet, it is fetched now (the caller is about to read it).
    fn trace_path(&self, name: &str) -> PathBuf {
        let path = self.traces_dir.join(name);
        if !path.exists() {
            let fetched =
                self.rt
                    .block_on(fetch_trace(&self.assets.traces, &self.traces_dir, name));
            if let Err(e) = fetched {
                tracing::warn!(trace = %name, error = %e, "trace not fetched");
            }
        }
        path
    }
}

impl Drop for NatsBackend {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
    }
}

/// Follow the run's results from the first one stored, for ever; after an interruption (a
/// restarted server) pick up after the last one seen.
async fn read_results(
    stream: async_nats::jetstream::stream::Stream,
    subject: String,
    traces: tokio::sync::mpsc::UnboundedSender<String>,
    router: Arc<Mutex<Router>>,
    read: Arc<AtomicU64>,
    duplicates: Arc<AtomicU64>,
    closing: Arc<AtomicBool>,
) {
    let mut next_seq = 1u64;
    while !closing.load(Ordering::SeqCst) {
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: next_seq,
                },
                ..Default::default()
            })
            .await;
        let messages = match consumer {
            Ok(c) => c.messages().await,
            Err(_) if closing.load(Ordering::SeqCst) => return,
            Err(e) => {
                tracing::warn!(error = %e, "result stream unavailable; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut messages = match messages {
            Ok(m) => m,
            Err(_) if closing.load(Ordering::SeqCst) => return,
            Err(e) => {
                tracing::warn!(error = %e, "result stream unavailable; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(msg) = messages.next().await {
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "result stream interrupted");
                    break;
                }
            };
            if let Ok(info) = msg.info() {
                next_seq = info.stream_sequence + 1;
            }
            let ev = match convert::decode::<v1::EvalResult>("EvalResult", &msg.payload)
                .and_then(|r| convert::evaluation(&r))
            {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::error!(error = %e, "malformed result ignored");
                    continue;
                }
            };
            read.fetch_add(1, Ordering::Relaxed);
            let mut r = router.lock().expect("router");
            if r.arrived.contains_key(&ev.key) {
                duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Some(name) = &ev.trace {
                let _ = traces.send(name.clone());
            }
            for w in r.waiting.remove(&ev.key).unwrap_or_default() {
                let _ = w.send(ev.clone());
            }
            r.arrived.insert(ev.key.clone(), ev);
        }
    }
}

/// Download the traces named by results into `dir`, [`TRACE_DOWNLOADS`] at once, so that every
/// trace ends up beside the run (the report cites them) without a result waiting for one.
async fn download_traces(
    mut names: tokio::sync::mpsc::UnboundedReceiver<String>,
    traces: async_nats::jetstream::object_store::ObjectStore,
    dir: PathBuf,
    closing: Arc<AtomicBool>,
) {
    let mut running = tokio::task::JoinSet::new();
    while let Some(name) = names.recv().await {
        while running.len() >= TRACE_DOWNLOADS {
            running.join_next().await;
        }
        let (traces, dir, closing) = (traces.clone(), dir.clone(), closing.clone());
        running.spawn(async move {
            match fetch_trace(&traces, &dir, &name).await {
                Err(e) if !closing.load(Ordering::SeqCst) => {
                    tracing::warn!(trace = %name, error = %e, "trace not fetched")
                }
                _ => {}
            }
        });
    }
}

/// Download trace `name` into `dir` unless it is there already.
pub(crate) async fn fetch_trace(
    traces: &async_nats::jetstream::object_store::ObjectStore,
    dir: &std::path::Path,
    name: &str,
) -> Result<()> {
    let path = dir.join(name);
    if path.exists() {
        return Ok(());
    }
    let mut obj = traces.get(name).await.map_err(|e| Error::Nats {
        what: format!("fetching trace {name}"),
        reason: e.to_string(),
    })?;
    // The background download and trace_path may fetch the same trace at once: each writes
    // its own part file, and the rename is atomic.
    static PARTS: AtomicU64 = AtomicU64::new(0);
    let part = PARTS.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{part}.part"));
    let mut file = tokio::fs::File::create(&tmp).await?;
    tokio::io::copy(&mut obj, &mut file).await?;
    tokio::fs::rename(&tmp, &path).await?;
    Ok(())
}

/// Turn each job the bus gave up on into an infrastructure-failure result for its run.
async fn dead_lettered(
    mut advisories: async_nats::Subscriber,
    jobs: async_nats::jetstream::stream::Stream,
    js: async_nats::jetstream::Context,
    run_id: String,
    count: Arc<AtomicU64>,
) {
    #[derive(serde::Deserialize)]
    struct Advisory {
        stream_seq: u64,
        deliveries: u64,
    }
    while let Some(m) = advisories.next().await {
        let Ok(a) = serde_json::from_slice::<Advisory>(&m.payload) else {
            continue;
        };
        let Ok(raw) = jobs.get_raw_message(a.stream_seq).await else {
            continue;
        };
        let Ok(job) = convert::decode::<v1::EvalJob>("EvalJob", &raw.payload) else {
            continue;
        };
        if job.run_id != run_id {
            continue;
        }
        let reason = format!(
            "dead-lettered: no validator finished this job in {} deliveries",
            a.deliveries
        );
        tracing::error!(key = %job.key, %reason, "job dead-lettered");
        let result = infrastructure_failure(&job, "coordinator", a.deliveries as u32, reason);
        if publish_result(&js, &run_id, &result).await.is_ok() {
            count.fetch_add(1, Ordering::Relaxed);
            let _ = jobs.delete_message(a.stream_seq).await;
        }
    }
}
