//! The distributed deployment with real processes (issue #5): a real `nats-server` with
//! JetStream, validators as separate `selfharness validator` processes, the coordinator in
//! `selfharness run --nats`. Each test compares against the embedded run with the same seed.

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

/// A `nats-server -js` on a free port with its store in a temp dir; killed on drop.
struct Nats {
    child: Child,
    port: u16,
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
            port,
            _store: store,
        }
    }
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `selfharness validator` process; killed on drop.
struct Validator(Child);

impl Validator {
    fn start(nats: &Nats, name: &str, log: &Path) -> Validator {
        let child = Command::new(bin())
            .args([
                "validator",
                "--nats",
                &nats.url(),
                "--concurrency",
                "3",
                "--ack-wait-secs",
                "3",
                "--name",
                name,
            ])
            .env("SELFHARNESS_LOG", "info")
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Validator(child)
    }
}

impl Drop for Validator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fast_harness(dir: &Path) -> PathBuf {
    let mut h = selfharness_core::harness::Harness::builtin_default();
    // Short enough that planted hangs cost little, long enough that no real step of a task
    // comes near it on a loaded 2-core machine (outcomes must not depend on load).
    h.limits.command_timeout_sec = 4;
    let p = dir.join("fast.toml");
    std::fs::write(&p, h.to_toml()).unwrap();
    p
}

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
        "--ack-wait-secs",
        "3",
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

fn champion(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["type"] == "finished")
        .map(|e| e["champion"].as_str().unwrap().to_string())
        .expect("finished")
}

/// The embedded run every test compares against: run once, shared by the tests.
fn embedded(_tmp: &Path, _harness: &Path) -> PathBuf {
    static RUN: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let harness = fast_harness(dir.path());
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
    let harness = fast_harness(tmp.path());
    let want = embedded(tmp.path(), &harness);
    for n in [1, 4] {
        let nats = Nats::start();
        let _validators: Vec<Validator> = (0..n)
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
    let harness = fast_harness(tmp.path());
    let want = embedded(tmp.path(), &harness);
    let nats = Nats::start();
    let mut doomed = Validator::start(&nats, "doomed", &tmp.path().join("doomed.log"));
    let survivor_log = tmp.path().join("survivor.log");
    let _survivor = Validator::start(&nats, "survivor", &survivor_log);
    let out = tmp.path().join("dist");
    let mut coordinator = Command::new(bin())
        .args(run_args(&harness, &out))
        .args(["--nats", &nats.url()])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
    let status = coordinator.wait().unwrap();
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

fn validators(nats: &Nats, n: usize, logs: &Path) -> Vec<Validator> {
    (0..n)
        .map(|i| Validator::start(nats, &format!("v{i}"), &logs.join(format!("v{i}.log"))))
        .collect()
}

/// `selfharness run --nats` in the background.
fn spawn_coordinator(nats: &Nats, harness: &Path, out: &Path) -> Child {
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
fn a_killed_coordinator_resumes_from_the_bus_to_the_same_champion() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let harness = fast_harness(tmp.path());
    let want = embedded(tmp.path(), &harness);
    let nats = Nats::start();
    let _validators = validators(&nats, 2, tmp.path());
    let out = tmp.path().join("dist");
    let mut coordinator = spawn_coordinator(&nats, &harness, &out);
    wait_for_lines(&out, lines(&want) / 2);
    coordinator.kill().unwrap(); // SIGKILL
    coordinator.wait().unwrap();
    assert!(!out.join("report.md").exists(), "killed before the end");
    let o = Command::new(bin())
        .args([
            "run",
            "--quiet",
            "--resume",
            out.to_str().unwrap(),
            "--nats",
            &nats.url(),
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "resume: {}", stderr(&o));
    assert_same_outcomes(&out, &want, "after the coordinator was killed");
    assert_eq!(champion(&out), champion(&want));
}

#[test]
fn the_run_completes_when_the_nats_server_restarts_mid_run() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let harness = fast_harness(tmp.path());
    let want = embedded(tmp.path(), &harness);
    let mut nats = Nats::start();
    let _validators = validators(&nats, 2, tmp.path());
    let out = tmp.path().join("dist");
    let mut coordinator = spawn_coordinator(&nats, &harness, &out);
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
        if let Some(status) = coordinator.try_wait().unwrap() {
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
