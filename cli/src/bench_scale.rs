//! `selfharness bench scale` (issue #5): how evaluation throughput scales with validators, what
//! the coordinator and the bus add to each evaluation, and how fast the coordinator folds
//! results. Every part is real: the bench starts its own `nats-server -js`, N `selfharness
//! validator` processes (this binary, `--concurrency 1`, so N validators are N evaluation slots)
//! and drives jobs through the coordinator's `NatsBackend`. The tasks are sleep-bound: each
//! one's reference solution sleeps `--eval-secs`, the scripted model (no flaws) runs it in the
//! sandbox, and the verifier checks what it wrote, so an evaluation waits and the CPU does not
//! limit it. Every process the bench starts is killed by its PID when the bench ends, also on
//! an error.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use prost::Message as _;
use selfharness_bus::backend::NatsBackend;
use selfharness_bus::Delivery;
use selfharness_coordinator::log::RunLog;
use selfharness_coordinator::{Backend, RunEvent};
use selfharness_core::eval::{eval_key, EvalJob, EvalStatus, Evaluation};
use selfharness_core::harness::Harness;
use selfharness_core::model::scripted::{FlawProfile, ScriptedModel};
use selfharness_core::model::{Model, Usage};
use selfharness_core::task::Suite;
use selfharness_core::trace::EndReason;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Targets of issue #5.
const EFFICIENCY_AT_4: f64 = 0.97;
const EFFICIENCY_AT_16: f64 = 0.9;
/// Overhead per evaluation, as a fraction of the evaluation's own time (1 % of a 1 s one).
const OVERHEAD_FRACTION: f64 = 0.01;
const FOLD_PER_SEC: f64 = 20_000.0;

/// Tasks in the generated suite (jobs cycle through them, trial after trial).
const TASKS: usize = 16;
/// Run seeds: one per validator count, and apart from them the warm-up and the fold, so that
/// no job's key is another's (no result is ever a cache hit).
const WARM_UP_SEED: u64 = 999;
const FOLD_SEED: u64 = 7_777;
const FOLD_TRACES_SEED: u64 = 7_778;

const WHAT_IS_TIMED: &str = "from NatsBackend::connect until NatsBackend::evaluate has \
returned M evaluations, for M jobs whose results were already stored in the result stream (by the \
bench, as validators store them): the coordinator's reader taking each result from the stream, decoding it, \
de-duplicating it by key and routing it (evaluate() is called once the reader has read all M, \
so that no job is published and the figure does not depend on a race), then evaluate() handing \
each to on_done, which appends one `evaluated` event to the run's events.jsonl (RunLog::emit), \
as the coordinator does";

#[derive(Args, Clone)]
pub struct ScaleArgs {
    /// Validator counts to measure (comma-separated); efficiency is relative to 1, which is
    /// always measured.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    pub validators: Vec<usize>,
    /// Wall time of one evaluation: each task's solution sleeps this long.
    #[arg(long, default_value_t = 1.0)]
    pub eval_secs: f64,
    /// Jobs per validator for each count: N validators get rounds × N jobs, so a batch lasts
    /// about rounds × eval-secs whatever N.
    #[arg(long, default_value_t = 60)]
    pub rounds: usize,
    /// Results stored ahead for the fold measurement (0: skip it). They name no trace.
    #[arg(long, default_value_t = 100_000)]
    pub fold: usize,
    /// Results stored ahead for a second fold whose results each name their own trace in the
    /// trace store (a copy of a real one), as validators' results do (0: skip it).
    #[arg(long, default_value_t = 10_000)]
    pub fold_traces: usize,
    /// Print the results as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// One validator count's batch.
#[derive(Debug, Serialize)]
pub struct Row {
    pub validators: usize,
    pub jobs: usize,
    /// Distinct keys among the results evaluate() returned, in job order.
    pub answered: usize,
    pub passed: usize,
    /// Infrastructure failures (none expected).
    pub errors: usize,
    /// Results that arrived for a key already answered (redeliveries).
    pub duplicates: u64,
    pub dead_letters: u64,
    pub wall_secs: f64,
    /// Evaluations per second over the batch.
    pub throughput: f64,
    /// throughput(N) / (N × throughput(1)).
    pub efficiency: f64,
    /// Mean duration of one evaluation as its validator measured it (`Evaluation::wall_ms`).
    pub mean_eval_secs: f64,
    /// Slot time per evaluation minus the evaluation's own duration: N × wall / jobs −
    /// mean_eval_secs. At N = 1 this is the coordinator + bus overhead per evaluation.
    pub overhead_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Fold {
    pub results: usize,
    /// Events in events.jsonl afterwards (one per result).
    pub events_logged: usize,
    pub secs: f64,
    pub per_sec: f64,
    /// Jobs evaluate() published, counted on the work queue afterwards (0: every result had
    /// been read when it looked; no validator runs during the fold).
    pub jobs_published: u64,
    /// Storing the results (and traces) beforehand (not part of the figure).
    pub store_secs: f64,
    /// With traces: bytes of each trace, and seconds from the start of the timing until every
    /// trace was in the run's directory (downloaded in the background, not part of the figure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces_local_secs: Option<f64>,
    pub timed: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub target: String,
    pub measured: f64,
    pub pass: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub eval_secs: f64,
    pub rounds: usize,
    pub scaling: Vec<Row>,
    pub fold: Option<Fold>,
    /// Not a target: the same fold with every result naming a stored trace.
    pub fold_with_traces: Option<Fold>,
    pub targets: Vec<Target>,
    pub all_met: bool,
    pub wall_secs: f64,
}

pub fn scale(args: ScaleArgs) -> Result<ExitCode> {
    let mut counts = args.validators.clone();
    counts.push(1);
    counts.retain(|&n| n > 0);
    counts.sort_unstable();
    counts.dedup();
    anyhow::ensure!(
        args.eval_secs > 0.0 && args.rounds > 0,
        "--eval-secs and --rounds must be positive"
    );
    let started = Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix("selfharness-bench-scale-")
        .tempdir()?;
    let mut bench = Bench::new(tmp.path(), args.eval_secs)?;
    let mut scaling: Vec<Row> = Vec::new();
    for (i, &n) in counts.iter().enumerate() {
        bench.validators(n)?;
        if i == 0 {
            eprintln!("warming up ({n} jobs) …");
            bench.batch(n, n, WARM_UP_SEED, false)?;
        }
        eprintln!("{n} validator(s): {} jobs …", args.rounds * n);
        let mut row = bench.batch(n, args.rounds * n, 1_000 + n as u64, true)?;
        let base = scaling.first().map_or(row.throughput, |r| r.throughput);
        row.efficiency = row.throughput / (n as f64 * base);
        eprintln!(
            "  {:.2} evaluations/s, efficiency {:.3}, evaluation {:.3} s, overhead {:.1} ms",
            row.throughput, row.efficiency, row.mean_eval_secs, row.overhead_ms
        );
        scaling.push(row);
    }
    bench.stop_validators();
    let fold = if args.fold > 0 {
        eprintln!("fold: storing {} results …", args.fold);
        let f = bench.fold(args.fold, false)?;
        eprintln!("  {:.0} results/s", f.per_sec);
        Some(f)
    } else {
        None
    };
    let fold_with_traces = if args.fold_traces > 0 {
        eprintln!(
            "fold with traces: storing {} results and traces …",
            args.fold_traces
        );
        let f = bench.fold(args.fold_traces, true)?;
        eprintln!("  {:.0} results/s", f.per_sec);
        Some(f)
    } else {
        None
    };
    drop(bench);
    let targets = targets(&scaling, fold.as_ref(), args.eval_secs);
    let report = Report {
        eval_secs: args.eval_secs,
        rounds: args.rounds,
        all_met: targets.iter().all(|t| t.pass),
        scaling,
        fold,
        fold_with_traces,
        targets,
        wall_secs: started.elapsed().as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.all_met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn targets(rows: &[Row], fold: Option<&Fold>, eval_secs: f64) -> Vec<Target> {
    let mut t = Vec::new();
    for (n, min) in [(4, EFFICIENCY_AT_4), (16, EFFICIENCY_AT_16)] {
        if let Some(r) = rows.iter().find(|r| r.validators == n) {
            t.push(Target {
                name: format!("efficiency at {n} validators"),
                target: format!(">= {min}"),
                measured: r.efficiency,
                pass: r.efficiency >= min,
            });
        }
    }
    if let Some(r) = rows.iter().find(|r| r.validators == 1) {
        let max = OVERHEAD_FRACTION * eval_secs * 1000.0;
        t.push(Target {
            name: "coordinator + bus overhead per evaluation (ms, 1 validator)".into(),
            target: format!("<= {max:.1} (1 % of a {eval_secs} s evaluation)"),
            measured: r.overhead_ms,
            pass: r.overhead_ms <= max,
        });
    }
    if let Some(f) = fold {
        t.push(Target {
            name: "results folded per second by the coordinator".into(),
            target: format!(">= {FOLD_PER_SEC}"),
            measured: f.per_sec,
            pass: f.per_sec >= FOLD_PER_SEC,
        });
    }
    t
}

fn print_report(r: &Report) {
    println!(
        "bench scale: sleep-bound tasks of {} s, {} jobs per validator, 1 evaluation slot per validator",
        r.eval_secs, r.rounds
    );
    println!();
    println!(
        "{:>10} {:>6} {:>9} {:>11} {:>10} {:>11} {:>12}  answered/errors/duplicates",
        "validators", "jobs", "wall s", "evals/s", "efficiency", "eval s", "overhead ms"
    );
    for x in &r.scaling {
        println!(
            "{:>10} {:>6} {:>9.2} {:>11.3} {:>10.3} {:>11.3} {:>12.1}  {}/{}/{}",
            x.validators,
            x.jobs,
            x.wall_secs,
            x.throughput,
            x.efficiency,
            x.mean_eval_secs,
            x.overhead_ms,
            x.answered,
            x.errors,
            x.duplicates
        );
    }
    println!();
    println!("eval s: mean evaluation time measured by the validator (Evaluation.wall_ms);");
    println!(
        "overhead ms: N × wall / jobs − eval s, the slot time each evaluation cost beyond itself."
    );
    if let Some(f) = &r.fold {
        println!();
        println!(
            "fold: {} results in {:.3} s = {:.0} results/s ({} events logged, {} jobs published; storing the results beforehand took {:.1} s, not counted)",
            f.results, f.secs, f.per_sec, f.events_logged, f.jobs_published, f.store_secs
        );
        println!("  timed: {}", f.timed);
    }
    if let Some(f) = &r.fold_with_traces {
        println!(
            "fold with traces (not a target): {} results, each naming its own stored trace of {} bytes, in {:.3} s = {:.0} results/s; every trace was local {:.2} s after the start",
            f.results,
            f.trace_bytes.unwrap_or(0),
            f.secs,
            f.per_sec,
            f.traces_local_secs.unwrap_or(f64::NAN)
        );
    }
    println!();
    for t in &r.targets {
        println!(
            "{} {}: {:.3} (target {})",
            if t.pass { "PASS" } else { "FAIL" },
            t.name,
            t.measured,
            t.target
        );
    }
    println!("bench took {:.0} s", r.wall_secs);
}

/// Processes this bench started; each is killed by its PID when dropped (also on an error).
#[derive(Default)]
struct Children(Vec<Child>);

impl Children {
    fn kill_all(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.0.clear();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// What the bench runs against: its NATS server, its validators, its suite and model.
struct Bench {
    dir: PathBuf,
    url: String,
    suite: Suite,
    profile: PathBuf,
    model_id: String,
    digest: String,
    harness: Arc<Harness>,
    rt: tokio::runtime::Runtime,
    consumer: async_nats::jetstream::consumer::PullConsumer,
    js: async_nats::jetstream::Context,
    traces: async_nats::jetstream::object_store::ObjectStore,
    /// A trace a validator stored (the fold with traces copies it).
    sample_trace: Mutex<Option<String>>,
    validators: Children,
    // Dropped last: the server outlives every client above.
    _nats: Children,
}

impl Bench {
    fn new(dir: &Path, eval_secs: f64) -> Result<Bench> {
        let suite_dir = dir.join("suite");
        write_suite(&suite_dir, eval_secs)?;
        let suite = Suite::load(&suite_dir)?;
        if let Some(e) = suite.errors.first() {
            bail!("the generated suite does not load: {e}");
        }
        let profile = dir.join("no-flaws.toml");
        std::fs::write(&profile, "name = \"bench-scale\"\nseed = 1\n")?;
        let model = ScriptedModel::new(&suite, FlawProfile::load(&profile)?);
        let mut harness = Harness::builtin_default();
        harness.limits.command_timeout_sec = harness
            .limits
            .command_timeout_sec
            .max((eval_secs * 2.0).ceil() as u64 + 5);
        // On an error below, dropping `nats` kills the server.
        let (nats, port) = start_nats(&dir.join("nats"))?;
        let url = format!("nats://127.0.0.1:{port}");
        let rt = tokio::runtime::Runtime::new()?;
        let assets = rt
            .block_on(async {
                let client = selfharness_bus::connect(&url).await?;
                selfharness_bus::assets(client, Delivery::default()).await
            })
            .context("setting up JetStream")?;
        Ok(Bench {
            dir: dir.to_path_buf(),
            url,
            digest: selfharness_proto::suite_digest(&suite)?,
            model_id: model.id(),
            suite,
            profile,
            harness: Arc::new(harness),
            rt,
            consumer: assets.consumer,
            js: assets.js,
            traces: assets.traces,
            sample_trace: Mutex::new(None),
            validators: Children::default(),
            _nats: nats,
        })
    }

    /// Start validators until `n` run, and wait until each is waiting for a job.
    fn validators(&mut self, n: usize) -> Result<()> {
        while self.validators.0.len() < n {
            let i = self.validators.0.len();
            let log = std::fs::File::create(self.dir.join(format!("validator-{i}.log")))?;
            let child = Command::new(std::env::current_exe()?)
                .arg("validator")
                .args([
                    "--nats",
                    &self.url,
                    "--concurrency",
                    "1",
                    "--model",
                    "scripted",
                ])
                .arg("--suite")
                .arg(&self.suite.dir)
                .arg("--flaws")
                .arg(&self.profile)
                .args(["--name", &format!("bench-validator-{i}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("starting a validator")?;
            self.validators.0.push(child);
        }
        let mut queue = self.consumer.clone();
        let t0 = Instant::now();
        loop {
            for (i, c) in self.validators.0.iter_mut().enumerate() {
                if let Some(status) = c.try_wait()? {
                    let log = self.dir.join(format!("validator-{i}.log"));
                    bail!(
                        "validator {i} exited ({status}): {}",
                        std::fs::read_to_string(log).unwrap_or_default().trim()
                    );
                }
            }
            let waiting = self
                .rt
                .block_on(queue.info())
                .map(|i| i.num_waiting)
                .unwrap_or(0);
            if waiting >= n {
                return Ok(());
            }
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("only {waiting} of {n} validators asked for a job within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop_validators(&mut self) {
        self.validators.kill_all();
    }

    fn jobs(&self, count: usize, seed: u64) -> Vec<EvalJob> {
        (0..count)
            .map(|i| EvalJob {
                task: self.suite.tasks[i % self.suite.tasks.len()].clone(),
                harness: self.harness.clone(),
                trial: (i / self.suite.tasks.len()) as u32,
                seed,
            })
            .collect()
    }

    fn backend(&self, run: &str) -> Result<NatsBackend> {
        NatsBackend::connect(
            &self.url,
            run,
            self.model_id.clone(),
            self.digest.clone(),
            self.dir.join(run).join("traces"),
            Delivery::default(),
        )
        .context("connecting the coordinator's backend")
    }

    /// `count` jobs through the coordinator's backend while `n` validators run.
    fn batch(&self, n: usize, count: usize, seed: u64, show: bool) -> Result<Row> {
        let run = format!("bench-scale-s{seed}");
        let backend = self.backend(&run)?;
        let jobs = self.jobs(count, seed);
        let pb = if show {
            ProgressBar::new(count as u64)
        } else {
            ProgressBar::hidden()
        };
        pb.set_style(
            ProgressStyle::with_template("  {spinner} {pos}/{len} [{bar:30}] {per_sec}")
                .expect("static template")
                .progress_chars("=> "),
        );
        let t0 = Instant::now();
        let results = backend.evaluate(jobs, &|_| pb.inc(1));
        let wall = t0.elapsed().as_secs_f64();
        pb.finish_and_clear();
        if let Some(name) = results.iter().find_map(|e| e.trace.clone()) {
            self.sample_trace
                .lock()
                .expect("sample")
                .get_or_insert(name);
        }
        let answered = results
            .iter()
            .map(|e| e.key.as_str())
            .collect::<HashSet<_>>()
            .len();
        let errors: Vec<&Evaluation> = results
            .iter()
            .filter(|e| e.status == EvalStatus::Error)
            .collect();
        if let Some(e) = errors.first() {
            tracing::warn!(key = %e.key, error = ?e.error, "an evaluation failed for infrastructure reasons");
        }
        let mean_eval_secs =
            results.iter().map(|e| e.wall_ms as f64).sum::<f64>() / 1000.0 / count as f64;
        Ok(Row {
            validators: n,
            jobs: count,
            answered,
            passed: results.iter().filter(|e| e.passed()).count(),
            errors: errors.len(),
            duplicates: backend.duplicates.load(Ordering::Relaxed),
            dead_letters: backend.dead_letters.load(Ordering::Relaxed),
            wall_secs: wall,
            throughput: count as f64 / wall,
            efficiency: 1.0,
            mean_eval_secs,
            overhead_ms: (n as f64 * wall / count as f64 - mean_eval_secs) * 1000.0,
        })
    }

    /// A copy of a trace a validator stored.
    fn sample_trace(&self) -> Result<Vec<u8>> {
        let name = self
            .sample_trace
            .lock()
            .expect("sample")
            .clone()
            .context("no evaluation stored a trace")?;
        self.rt.block_on(async {
            let mut obj = self.traces.get(&name).await?;
            let mut bytes = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut obj, &mut bytes).await?;
            Ok(bytes)
        })
    }

    /// Store `m` results for `m` distinct jobs (with `traces`, each naming its own stored
    /// trace), then time the coordinator taking them in.
    fn fold(&self, m: usize, traces: bool) -> Result<Fold> {
        let (run, seed) = if traces {
            ("bench-scale-fold-traces", FOLD_TRACES_SEED)
        } else {
            ("bench-scale-fold", FOLD_SEED)
        };
        let jobs = self.jobs(m, seed);
        let hid = self.harness.id();
        let sample = if traces {
            Some(self.sample_trace()?)
        } else {
            None
        };
        let t0 = Instant::now();
        self.rt
            .block_on(async {
                let subject = selfharness_bus::results_subject(run);
                for chunk in jobs.chunks(10_000) {
                    let mut acks = Vec::with_capacity(chunk.len());
                    for j in chunk {
                        let mut ev = stored_result(j, &hid, &self.model_id);
                        if let Some(bytes) = &sample {
                            let name = format!("{}.json", ev.key);
                            self.traces
                                .put(name.as_str(), &mut bytes.as_slice())
                                .await?;
                            ev.trace = Some(name);
                        }
                        let mut headers = async_nats::HeaderMap::new();
                        headers.insert("Nats-Msg-Id", ev.key.as_str());
                        let msg = selfharness_proto::convert::eval_result(&ev, "bench-fold", 1);
                        acks.push(
                            self.js
                                .publish_with_headers(
                                    subject.clone(),
                                    headers,
                                    msg.encode_to_vec().into(),
                                )
                                .await?,
                        );
                    }
                    for a in acks {
                        a.await?;
                    }
                }
                Ok::<_, anyhow::Error>(())
            })
            .context("storing the results")?;
        let store_secs = t0.elapsed().as_secs_f64();
        eprintln!("  stored in {store_secs:.1} s; folding …");
        let mut queue = self.consumer.clone();
        let mut pending = || {
            self.rt
                .block_on(queue.info())
                .map(|i| i.num_pending)
                .context("reading the work queue")
        };
        let pending_before = pending()?;
        let (log, _) = RunLog::open(&self.dir.join(run))?;
        let log = Mutex::new(log);
        let failed = AtomicUsize::new(0);
        let t0 = Instant::now();
        let backend = self.backend(run)?;
        while backend.results_read.load(Ordering::Relaxed) < m as u64 {
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(300),
                "the backend read {} of {m} results in 300 s",
                backend.results_read.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let results = backend.evaluate(jobs, &|ev| {
            let event = RunEvent::Evaluated {
                evaluation: ev.clone(),
            };
            if log.lock().expect("log").emit(&event).is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        });
        let secs = t0.elapsed().as_secs_f64();
        let traces_dir = self.dir.join(run).join("traces");
        let traces_local_secs = if traces {
            while results
                .iter()
                .filter_map(|e| e.trace.as_ref())
                .any(|n| !traces_dir.join(n).exists())
            {
                anyhow::ensure!(
                    t0.elapsed() < Duration::from_secs(300),
                    "traces not downloaded within 300 s"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Some(t0.elapsed().as_secs_f64())
        } else {
            None
        };
        drop(backend);
        let jobs_published = pending()? - pending_before;
        anyhow::ensure!(
            failed.load(Ordering::Relaxed) == 0,
            "appending to the event log failed"
        );
        let log = log.into_inner().expect("log");
        let events_logged = std::fs::read_to_string(log.path())?.lines().count();
        anyhow::ensure!(
            results.len() == m && events_logged == m,
            "{} results and {events_logged} events for {m} jobs",
            results.len()
        );
        Ok(Fold {
            results: m,
            events_logged,
            secs,
            per_sec: m as f64 / secs,
            jobs_published,
            store_secs,
            trace_bytes: sample.map(|s| s.len()),
            traces_local_secs,
            timed: WHAT_IS_TIMED,
        })
    }
}

/// The evaluation a validator would have reported for `job` (passed after one command), with
/// no trace named.
fn stored_result(job: &EvalJob, harness_id: &str, model_id: &str) -> Evaluation {
    Evaluation {
        key: eval_key(harness_id, &job.task.id, model_id, job.trial, job.seed),
        task_id: job.task.id.clone(),
        harness_id: harness_id.to_string(),
        model_id: model_id.to_string(),
        trial: job.trial,
        seed: job.seed,
        status: EvalStatus::Passed,
        reward: Some(1.0),
        end: Some(EndReason::Done),
        turns: 2,
        usage: Usage {
            prompt_tokens: 420,
            completion_tokens: 30,
        },
        wall_ms: 1_000,
        trace: None,
        error: None,
    }
}

/// `nats-server -js` on a free port with its store in `store`.
fn start_nats(store: &Path) -> Result<(Children, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::create_dir_all(store)?;
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nats-server (Debian package nats-server; bash scripts/setup.sh)")?;
    let mut children = Children(vec![child]);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = children.0[0].try_wait()? {
            bail!("nats-server exited at start ({status})");
        }
        if t0.elapsed() > Duration::from_secs(10) {
            bail!("nats-server did not listen on port {port} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((children, port))
}

/// A suite of [`TASKS`] tasks whose solution sleeps `secs` and then writes a file the verifier
/// checks.
fn write_suite(dir: &Path, secs: f64) -> Result<()> {
    let mut ids = Vec::new();
    for i in 0..TASKS {
        let id = format!("sleep-{i:02}");
        let t = dir.join(&id);
        std::fs::create_dir_all(t.join("solution"))?;
        std::fs::create_dir_all(t.join("tests"))?;
        std::fs::write(
            t.join("instruction.md"),
            format!("Benchmark task {id}: wait {secs} s, then write `ok` to /app/done.txt.\n"),
        )?;
        std::fs::write(
            t.join("task.toml"),
            "schema_version = \"1.1\"\n\n[metadata]\ncategory = \"benchmark\"\n\n[verifier]\ntimeout_sec = 60\n\n[agent]\ntimeout_sec = 600\n\n[environment]\ncpus = 1\nmemory_mb = 256\nstorage_mb = 64\n",
        )?;
        std::fs::write(
            t.join("solution/solve.sh"),
            format!("#!/bin/bash\nsleep {secs} && echo ok > /app/done.txt\n"),
        )?;
        std::fs::write(
            t.join("tests/test.sh"),
            "#!/bin/bash\nmkdir -p /logs/verifier\nif [ \"$(cat /app/done.txt 2>/dev/null)\" = ok ]; then echo 1; else echo 0; fi > /logs/verifier/reward.txt\n",
        )?;
        ids.push(format!("\"{id}\""));
    }
    std::fs::write(
        dir.join("splits.toml"),
        format!("[splits]\nvalidation = [{}]\n", ids.join(", ")),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_suite_loads_and_the_scripted_model_sleeps() {
        let dir = tempfile::tempdir().unwrap();
        write_suite(dir.path(), 0.5).unwrap();
        let suite = Suite::load(dir.path()).unwrap();
        assert!(suite.errors.is_empty(), "{:?}", suite.errors);
        assert_eq!(suite.tasks.len(), TASKS);
        let steps = selfharness_core::model::scripted::parse_solution(
            &std::fs::read_to_string(suite.tasks[3].solution()).unwrap(),
        );
        assert_eq!(
            steps,
            [selfharness_core::model::scripted::Action::Bash(
                "sleep 0.5 && echo ok > /app/done.txt".into()
            )]
        );
    }
}
