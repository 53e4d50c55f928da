//! The distributed deployment with real processes (issue #5): a real `nats-server` with
//! JetStream; `selfharness validator`, `miner`, `proposer` and `coordinator` as separate
//! processes; the run submitted and followed by `selfharness run --nats`. Each test compares
//! against the embedded run with the same seed.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The tests here run one at a time: each loads the machine with several processes, and two
/// at once on 2 cores would make a run's timing, not its seed, decide slow steps.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `selfharness validator` service.
struct Validator;

impl Validator {
    fn start(nats: &Nats, name: &str, log: &Path) -> Service {
        let args = ["--concurrency", "3", "--ack-wait-secs", "3", "--name", name];
        Service::start(nats, "validator", &args, log)
    }
}

/// The coordinator service, its runs in `runs`.
fn coordinator(nats: &Nats, runs: &Path, log: &Path) -> Service {
    Service::start(
        nats,
        "coordinator",
        &["--runs", runs.to_str().unwrap(), "--ack-wait-secs", "3"],
        log,
    )
}

/// The services of a cluster other than validators: miner, proposer, coordinator.
struct Stages {
    _miner: Service,
    _proposer: Service,
    coordinator: Service,
}

fn stages(nats: &Nats, dir: &Path) -> Stages {
    Stages {
        _miner: Service::start(nats, "miner", &[], &dir.join("miner.log")),
        _proposer: Service::start(nats, "proposer", &[], &dir.join("proposer.log")),
        coordinator: coordinator(nats, &dir.join("runs"), &dir.join("coordinator.log")),
    }
}

/// Command limit of the runs here: short enough that planted hangs cost little, long enough
/// that no real step of a task comes near it on a loaded 2-core machine (outcomes must not
/// depend on load).
const COMMAND_LIMIT: u64 = 4;

fn run_args(harness: &Path, out: &Path) -> Vec<String> {
    [
        "run",
        "--generations",
        "1",
        "--k",
        "2",
        "--train-trials",
        "1",
        "--val-trials",
        "3",
        "--test-trials",
        "1",
        "--seed",
        "5",
        "--quiet",
        "--harness",
        harness.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Every evaluation of a run by key: (status, reward, end, turns); panics on a key logged twice.
fn outcomes(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
    {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["type"] == "evaluated" {
            let ev = &e["evaluation"];
            let v = format!(
                "{} {} {} {}",
                ev["status"], ev["reward"], ev["end"], ev["turns"]
            );
            let key = ev["key"].as_str().unwrap().to_string();
            assert!(out.insert(key.clone(), v).is_none(), "{key} logged twice");
        }
    }
    out
}

/// Assert two runs evaluated the same keys with the same outcomes, showing the differences.
fn assert_same_outcomes(got: &Path, want: &Path, what: &str) {
    let (g, w) = (outcomes(got), outcomes(want));
    let diff: Vec<String> = w
        .iter()
        .filter(|(k, v)| g.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: want {v}, got {:?}", g.get(k)))
        .chain(
            g.keys()
                .filter(|k| !w.contains_key(*k))
                .map(|k| format!("{k}: not in the embedded run")),
        )
        .collect();
    assert!(
        diff.is_empty(),
        "{what}: {} differences:\n{}",
        diff.len(),
        diff.join("\n")
    );
}

/// The embedded run every test compares against: run once, shared by the tests.
fn embedded(_tmp: &Path, _harness: &Path) -> PathBuf {
    static RUN: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let harness = fast_harness(dir.path(), COMMAND_LIMIT);
        let out = dir.path().join("embedded");
        let args = run_args(&harness, &out);
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (dir, out)
    })
    .1
    .clone()
}

/// `selfharness run --nats`: submit the run to the cluster and follow it to the end.
fn distributed(nats: &Nats, harness: &Path, out: &Path) -> std::process::Output {
    Command::new(bin())
        .args(run_args(harness, out))
        .args(["--nats", &nats.url()])
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn distributed_runs_with_one_and_four_validators_match_the_embedded_run() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let harness = fast_harness(tmp.path(), COMMAND_LIMIT);
    let want = embedded(tmp.path(), &harness);
    for n in [1, 4] {
        let nats = Nats::start();
        let logs = tmp.path().join(format!("cluster-{n}"));
        std::fs::create_dir_all(&logs).unwrap();
        let _stages = stages(&nats, &logs);
        let _validators: Vec<Service> = (0..n)
            .map(|i| {
                Validator::start(
                    &nats,
                    &format!("v{i}"),
                    &tmp.path().join(format!("v{n}-{i}.log")),
                )
            })
            .collect();
        let out = tmp.path().join(format!("dist-{n}"));
        let o = distributed(&nats, &harness, &out);
        assert!(o.status.success(), "{n} validators: {}", stderr(&o));
        assert_eq!(
            champion(&out),
            champion(&want),
            "{n} validators: same champion"
        );
        assert_eq!(
            outcomes(&out),
            outcomes(&want),
            "{n} validators: same outcomes"
        );
    }
}

#[test]
fn a_validator_killed_mid_evaluation_loses_and_double_counts_nothing() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let harness = fast_harness(tmp.path(), COMMAND_LIMIT);
    let want = embedded(tmp.path(), &harness);
    let nats = Nats::start();
    let _stages = stages(&nats, tmp.path());
    let mut doomed = Validator::start(&nats, "doomed", &tmp.path().join("doomed.log"));
    let survivor_log = tmp.path().join("survivor.log");
    let _survivor = Validator::start(&nats, "survivor", &survivor_log);
    let out = tmp.path().join("dist");
    let mut client = spawn_client(&nats, &harness, &out);
    // Let the doomed validator take work, then SIGKILL it mid-evaluation.
    let t0 = Instant::now();
    let done = |log: &Path| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .matches("evaluation done")
            .count()
    };
    while done(&tmp.path().join("doomed.log")) < 10 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the doomed validator never worked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    doomed.0.kill().unwrap();
    doomed.0.wait().unwrap();
    let status = client.wait().unwrap();
    assert!(
        status.success(),
        "the run completes on the surviving validator"
    );
    assert_same_outcomes(&out, &want, "after a validator was killed");
    assert_eq!(champion(&out), champion(&want));
    let log = std::fs::read_to_string(&survivor_log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("evaluation done") && !l.contains("delivery=1")),
        "the survivor ran a redelivered job:\n{log}"
    );
}

fn validators(nats: &Nats, n: usize, logs: &Path) -> Vec<Service> {
    (0..n)
        .map(|i| Validator::start(nats, &format!("v{i}"), &logs.join(format!("v{i}.log"))))
        .collect()
}

/// `selfharness run --nats` in the background: it submits the run and copies its log to `out`
/// as the events arrive.
fn spawn_client(nats: &Nats, harness: &Path, out: &Path) -> Child {
    Command::new(bin())
        .args(run_args(harness, out))
        .args(["--nats", &nats.url()])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .count()
}

fn wait_for_lines(dir: &Path, n: usize) {
    let t0 = Instant::now();
    while lines(dir) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "the run never reached {n} log lines"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_coordinator_restarted_on_an_empty_disk_resumes_from_the_event_stream() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let harness = fast_harness(tmp.path(), COMMAND_LIMIT);
    let want = embedded(tmp.path(), &harness);
    let nats = Nats::start();
    let mut stages = stages(&nats, tmp.path());
    let _validators = validators(&nats, 2, tmp.path());
    let out = tmp.path().join("dist");
    let mut client = spawn_client(&nats, &harness, &out);
    wait_for_lines(&out, lines(&want) / 2);
    stages.coordinator.0.kill().unwrap(); // SIGKILL
    stages.coordinator.0.wait().unwrap();
    assert!(
        client.try_wait().unwrap().is_none(),
        "the client waits for the run"
    );
    // A new coordinator with none of the old one's files: the run's log comes back from the
    // event stream, its request from the run bucket.
    let fresh = tmp.path().join("fresh-runs");
    stages.coordinator = coordinator(&nats, &fresh, &tmp.path().join("coordinator-2.log"));
    let status = client.wait().unwrap();
    assert!(status.success(), "the client saw the run to its end");
    assert_same_outcomes(&out, &want, "after the coordinator was killed");
    assert_eq!(champion(&out), champion(&want));
    let restored = std::fs::read_dir(&fresh)
        .unwrap()
        .next()
        .expect("the new coordinator resumed the run")
        .unwrap()
        .path();
    let theirs = std::fs::read_to_string(restored.join("events.jsonl")).unwrap();
    let ours = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let (theirs, ours): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    let first_diff = theirs.iter().zip(&ours).position(|(a, b)| a != b);
    assert!(
        theirs.len() == ours.len() && first_diff.is_none(),
        "the coordinator's log ({} lines) and the client's copy ({} lines) differ first at line \
         {first_diff:?}:\n{:?}\n{:?}",
        theirs.len(),
        ours.len(),
        first_diff.map(|i| theirs[i]),
        first_diff.map(|i| ours[i]),
    );
}

#[test]
fn the_run_completes_when_the_nats_server_restarts_mid_run() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let harness = fast_harness(tmp.path(), COMMAND_LIMIT);
    let want = embedded(tmp.path(), &harness);
    let mut nats = Nats::start();
    let _stages = stages(&nats, tmp.path());
    let _validators = validators(&nats, 2, tmp.path());
    let out = tmp.path().join("dist");
    let mut client = spawn_client(&nats, &harness, &out);
    wait_for_lines(&out, lines(&want) / 3);
    // Stop the server, keep its store on disk, start it again on the same port.
    nats.child.kill().unwrap();
    nats.child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    nats.child = Command::new("nats-server")
        .args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &nats.port.to_string(),
            "-sd",
        ])
        .arg(nats._store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if let Some(status) = client.try_wait().unwrap() {
            assert!(status.success(), "the run failed after the restart");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the run never finished after the restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_same_outcomes(&out, &want, "across a NATS restart");
    assert_eq!(champion(&out), champion(&want));
}

/// A free TCP port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_run_api_over_grpc_creates_watches_gets_lists_and_cancels() {
    use selfharness_proto::v1;
    use selfharness_proto::v1::coordinator_client::CoordinatorClient;
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let harness =
        selfharness_core::harness::Harness::load(&fast_harness(tmp.path(), COMMAND_LIMIT)).unwrap();
    let nats = Nats::start();
    let port = free_port();
    let http = free_port();
    let _miner = Service::start(&nats, "miner", &[], &tmp.path().join("miner.log"));
    let _proposer = Service::start(&nats, "proposer", &[], &tmp.path().join("proposer.log"));
    let _coordinator = Service::start(
        &nats,
        "coordinator",
        &[
            "--runs",
            tmp.path().join("runs").to_str().unwrap(),
            "--grpc",
            &format!("127.0.0.1:{port}"),
            "--http",
            &format!("127.0.0.1:{http}"),
        ],
        &tmp.path().join("coordinator.log"),
    );
    let _validators = validators(&nats, 1, tmp.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        let mut c = loop {
            match CoordinatorClient::connect(url.clone()).await {
                Ok(c) => break c,
                Err(_) if t0.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("no coordinator on {url}: {e}"),
            }
        };
        // A request without a config is refused, naming the field.
        let bad = c
            .create_run(v1::CreateRunRequest::default())
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        assert!(bad.message().contains("`config`"), "{}", bad.message());
        let unknown = c
            .get_run(v1::GetRunRequest {
                run_id: "run-nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::NotFound);

        let config = selfharness_coordinator::RunConfig {
            generations: 5,
            k: 2,
            train_trials: 1,
            val_trials: 2,
            test_trials: 1,
            seed: 3,
            ..Default::default()
        };
        let req = selfharness_proto::convert::CreateRun {
            config,
            baseline: harness,
            policy: Default::default(),
        };
        use selfharness_proto::ToProto;
        let run = c.create_run(req.to_proto()).await.unwrap().into_inner();
        assert_eq!(run.status, v1::RunStatus::Running as i32);
        let id = run.run_id.clone();
        let mut events = c
            .watch_run(v1::WatchRunRequest {
                run_id: id.clone(),
                after_seq: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let mut seen = Vec::new();
        let mut cancelled = false;
        while let Some(e) = events.message().await.unwrap() {
            assert_eq!(e.seq, seen.len() as u64 + 1, "events in order, no gaps");
            if e.event_type == "mined" && !cancelled {
                let r = c
                    .cancel_run(v1::CancelRunRequest {
                        run_id: id.clone(),
                        reason: "enough for this test".into(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(r.run_id, id);
                cancelled = true;
            }
            seen.push(e);
        }
        assert!(cancelled, "the run mined something before it finished");
        let last = seen.last().unwrap();
        assert_eq!(
            last.event_type, "finished",
            "the stream ends after finished"
        );
        let stopped = seen
            .iter()
            .find(|e| e.event_type == "stopped")
            .expect("a stopped event");
        assert!(
            stopped.json.contains("cancelled: enough for this test"),
            "{}",
            stopped.json
        );
        assert!(
            !seen.iter().any(|e| e.json.contains("\"generation\":5")),
            "cancelled before the last generation"
        );
        let got = c
            .get_run(v1::GetRunRequest { run_id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.status, v1::RunStatus::Cancelled as i32);
        assert_eq!(got.last_seq, seen.len() as u64);
        let listed = c
            .list_runs(v1::ListRunsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert!(listed.runs.iter().any(|r| r.run_id == id));
        // Watching a finished run from the middle replays the rest and ends.
        let mut tail = c
            .watch_run(v1::WatchRunRequest {
                run_id: id.clone(),
                after_seq: seen.len() as u64 - 2,
            })
            .await
            .unwrap()
            .into_inner();
        let mut n = 0;
        while let Some(e) = tail.message().await.unwrap() {
            n += 1;
            assert!(e.seq > seen.len() as u64 - 2);
        }
        assert_eq!(n, 2);

        // The coordinator's dashboard saw the same run: listed, and every evaluation counted.
        let get = |path: &str| {
            ureq::get(&format!("http://127.0.0.1:{http}{path}"))
                .call()
                .unwrap()
                .into_string()
                .unwrap()
        };
        assert!(get("/").contains(&id), "the runs list names the run");
        let metrics = get("/metrics");
        let counted: usize = metrics
            .lines()
            .filter(|l| l.starts_with("selfharness_evaluations_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<usize>().unwrap())
            .sum();
        let evaluated = seen.iter().filter(|e| e.event_type == "evaluated").count();
        assert_eq!(counted, evaluated, "{metrics}");
        assert!(metrics.contains("selfharness_queue_depth"), "{metrics}");
        let sse = get(&format!("/runs/{id}/events?after={}", seen.len() - 1));
        assert!(
            sse.contains(&format!("id: {}", seen.len())) && sse.contains("event: finished"),
            "{sse}"
        );
    });
}

#[test]
fn a_miner_answering_errors_is_a_logged_stage_failure_and_the_run_still_finishes() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let harness = fast_harness(tmp.path(), COMMAND_LIMIT);
    let nats = Nats::start();
    // A miner of our own that fails every request the way the contract says failures look.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = nats.url();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = answered.clone();
    rt.spawn(async move {
        use futures::StreamExt;
        let client = async_nats::connect(url).await.unwrap();
        let mut sub = client
            .queue_subscribe("selfharness.v1.Miner.Mine", "selfharness-miners".into())
            .await
            .unwrap();
        while let Some(m) = sub.next().await {
            let mut h = async_nats::HeaderMap::new();
            h.insert(
                "Selfharness-Error",
                "INTERNAL: the disk with the rules is gone",
            );
            client
                .publish_with_headers(m.reply.unwrap(), h, Default::default())
                .await
                .unwrap();
            client.flush().await.unwrap();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let _proposer = Service::start(&nats, "proposer", &[], &tmp.path().join("proposer.log"));
    let _coordinator = coordinator(&nats, &tmp.path().join("runs"), &tmp.path().join("c.log"));
    let _validators = validators(&nats, 1, tmp.path());
    let out = tmp.path().join("dist");
    let mut args = run_args(&harness, &out);
    let g = args.iter().position(|a| a == "--generations").unwrap();
    args[g + 1] = "2".into();
    let o = Command::new(bin())
        .args(args)
        .args(["--plateau", "2", "--nats", &nats.url()])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let events = events(&out);
    let failed: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "stage_failed")
        .collect();
    assert_eq!(failed.len(), 2, "one failure per generation: {failed:?}");
    for f in &failed {
        assert_eq!(f["stage"], "miner");
        assert!(
            f["error"]
                .as_str()
                .unwrap()
                .contains("INTERNAL: the disk with the rules is gone"),
            "{f}"
        );
    }
    assert_eq!(answered.load(std::sync::atomic::Ordering::SeqCst), 2);
    let stopped = events.iter().find(|e| e["type"] == "stopped").unwrap();
    assert!(
        stopped["reason"].as_str().unwrap().starts_with("plateau"),
        "{stopped}"
    );
    assert!(events.iter().any(|e| e["type"] == "finished"));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("The miner failed"),
        "the report says so:\n{report}"
    );
}

#[test]
fn a_validator_serves_evaluate_over_grpc_with_harnesses_from_the_cluster_bucket() {
    use selfharness_core::eval::EvalJob;
    use selfharness_core::harness::Harness;
    use selfharness_proto::convert::JobSpec;
    use selfharness_proto::v1::validator_client::ValidatorClient;
    use selfharness_proto::ToProto;
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let nats = Nats::start();
    let port = free_port();
    let _validator = Service::start(
        &nats,
        "validator",
        &["--grpc", &format!("127.0.0.1:{port}")],
        &tmp.path().join("v.log"),
    );
    let suite = selfharness_core::task::Suite::load(&root().join("tasks")).unwrap();
    let task = suite
        .tasks
        .iter()
        .find(|t| t.id == "csv-column-sum")
        .unwrap();
    let harness = Harness::load(&fast_harness(tmp.path(), COMMAND_LIMIT)).unwrap();
    let model = selfharness_core::model::scripted::ScriptedModel::new(
        &suite,
        selfharness_core::model::scripted::FlawProfile::builtin_default(),
    );
    let model_id = selfharness_core::model::Model::id(&model);
    let job = EvalJob {
        task: task.clone(),
        harness: std::sync::Arc::new(harness.clone()),
        trial: 0,
        seed: 1,
    };
    let spec = JobSpec::of(
        &job,
        &model_id,
        &selfharness_proto::suite_digest(&suite).unwrap(),
        "grpc-test",
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = {
            let url = format!("http://127.0.0.1:{port}");
            let t0 = Instant::now();
            loop {
                match ValidatorClient::connect(url.clone()).await {
                    Ok(c) => break c,
                    Err(_) if t0.elapsed() < Duration::from_secs(30) => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => panic!("no validator on {url}: {e}"),
                }
            }
        };
        // Not in the bucket yet: NOT_FOUND, naming the harness.
        let err = c.evaluate(spec.to_proto()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
        assert!(err.message().contains(&harness.id()), "{}", err.message());
        // Put it where a coordinator would, then evaluate.
        let client = async_nats::connect(nats.url()).await.unwrap();
        let kv = async_nats::jetstream::new(client)
            .get_key_value("selfharness_harnesses")
            .await
            .unwrap();
        kv.put(harness.id(), harness.to_toml().into_bytes().into())
            .await
            .unwrap();
        let r = c.evaluate(spec.to_proto()).await.unwrap().into_inner();
        assert_eq!(r.key, spec.key);
        assert!(r.reward.is_some(), "the episode was verified: {r:?}");
    });
}
