//! Replaceable stages (issue #5): the Python miner (`python/miner`, generated protobuf classes
//! and nats-py) speaks the Miner contract over NATS in place of the Rust one. Real
//! `nats-server`, real traces from `selfharness eval`, put in the `selfharness_traces` object
//! store; the answer is decoded with `selfharness_proto` and handed to the Rust catalogue
//! proposer, which must act on it.
//!
//! Needs `bash scripts/setup.sh` (it runs `scripts/python-setup.sh`: the venv `target/pyenv`
//! and the generated code). Skipped, saying so, only on a machine without python3.
//!
//! [`PythonMiner`] is the helper for other end-to-end tests (e.g. a coordinator run with the
//! Python miner in place of the Rust one).

mod common;
use common::*;
use prost::Message as _;
use selfharness_core::trace::Trace;
use selfharness_miner::Weakness;
use selfharness_proto::{v1, FromProto};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const MINE: &str = "selfharness.v1.Miner.Mine";
pub const ERROR_HEADER: &str = "Selfharness-Error";
pub const TRACES: &str = "selfharness_traces";

/// A `python/miner/selfharness_py_miner.py` process serving one NATS server; its stderr goes to
/// a log file. Killed (by its PID) on drop.
pub struct PythonMiner {
    child: Child,
    pub log: PathBuf,
}

impl PythonMiner {
    /// Whether this machine has python3 at all: without it the Python miner's tests skip.
    /// With it, a missing venv is a failure ([`PythonMiner::start`] says how to fix it).
    pub fn python_available() -> bool {
        Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// The venv's interpreter, after checking that scripts/python-setup.sh has run.
    pub fn interpreter() -> PathBuf {
        let py = root().join("target/pyenv/bin/python");
        let generated = root().join("target/pyenv/gen/selfharness/v1/miner_pb2.py");
        assert!(
            py.exists() && generated.exists(),
            "the Python miner is not set up ({} or {} is missing): run `bash scripts/setup.sh`",
            py.display(),
            generated.display()
        );
        py
    }

    /// Start the miner against `nats_url`, logging to `log`, and wait until it serves.
    pub fn start(nats_url: &str, log: &Path) -> PythonMiner {
        let child = Command::new(Self::interpreter())
            .arg(root().join("python/miner/selfharness_py_miner.py"))
            .args(["--nats", nats_url])
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("miner log"))
            .spawn()
            .expect("the venv's python runs");
        let mut miner = PythonMiner {
            child,
            log: log.to_path_buf(),
        };
        let t0 = Instant::now();
        while !miner
            .log_text()
            .contains("serving selfharness.v1.Miner.Mine")
        {
            if let Some(status) = miner.child.try_wait().unwrap() {
                panic!(
                    "the Python miner exited ({status}) before serving:\n{}",
                    miner.log_text()
                );
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the Python miner did not start serving in 30 s:\n{}",
                miner.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        miner
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait (at most 15 s) for it to finish.
    pub fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "could not signal the Python miner");
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "the Python miner ignored SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PythonMiner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Skip (with a message) when python3 is missing; otherwise go on, and fail if not set up.
fn python_or_skip(test: &str) -> bool {
    if PythonMiner::python_available() {
        return true;
    }
    eprintln!("SKIPPED {test}: python3 is not installed (bash scripts/setup.sh installs it)");
    false
}

/// A NATS client on its own runtime, for the test's side of the contract.
struct Client {
    rt: tokio::runtime::Runtime,
    nats: async_nats::Client,
}

impl Client {
    fn connect(url: &str) -> Client {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let nats = rt
            .block_on(
                async_nats::ConnectOptions::new()
                    .request_timeout(Some(Duration::from_secs(60)))
                    .connect(url),
            )
            .expect("connect to nats");
        Client { rt, nats }
    }

    /// Put each file under its file name in the trace store (created if missing), as the
    /// validators do.
    fn put_traces(&self, files: &[PathBuf]) {
        self.rt.block_on(async {
            let js = async_nats::jetstream::new(self.nats.clone());
            let store = match js.get_object_store(TRACES).await {
                Ok(s) => s,
                Err(_) => js
                    .create_object_store(async_nats::jetstream::object_store::Config {
                        bucket: TRACES.into(),
                        ..Default::default()
                    })
                    .await
                    .expect("create the trace store"),
            };
            for f in files {
                let name = f.file_name().unwrap().to_str().unwrap();
                let bytes = std::fs::read(f).unwrap();
                store
                    .put(name, &mut bytes.as_slice())
                    .await
                    .expect("put a trace");
            }
        });
    }

    /// One Mine request: the reply body, or the `Selfharness-Error` header of a failed one.
    fn mine(&self, body: Vec<u8>) -> Result<Vec<Weakness>, String> {
        let reply = self
            .rt
            .block_on(self.nats.request(MINE, body.into()))
            .expect("the miner answers");
        if let Some(error) = reply.headers.as_ref().and_then(|h| h.get(ERROR_HEADER)) {
            assert!(reply.payload.is_empty(), "a failed reply has an empty body");
            return Err(error.as_str().to_string());
        }
        let response = v1::MineResponse::decode(reply.payload).expect("a MineResponse");
        Ok(Vec::<Weakness>::from_proto(&response).expect("a valid MineResponse"))
    }
}

fn mine_request(refs: &[String], instructions: &BTreeMap<String, String>) -> Vec<u8> {
    v1::MineRequest {
        traces: vec![],
        instructions: instructions.clone(),
        trace_refs: refs.to_vec(),
    }
    .encode_to_vec()
}

/// Real traces: the default harness (short command limit) on the train split, 2 trials.
fn eval_traces(dir: &Path) -> Vec<PathBuf> {
    let harness = fast_harness(dir, 2);
    let out = dir.join("eval");
    eval_json(
        &[
            "--suite",
            "tasks",
            "--split",
            "train",
            "--model",
            "scripted",
            "--trials",
            "2",
            "--seed",
            "1",
            "--harness",
            harness.to_str().unwrap(),
        ],
        &out,
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("traces"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 16, "eval wrote {} traces", files.len());
    files
}

fn instructions() -> BTreeMap<String, String> {
    selfharness_core::task::Suite::load(&root().join("tasks"))
        .unwrap()
        .tasks
        .iter()
        .map(|t| (t.id.clone(), t.instruction.clone()))
        .collect()
}

#[test]
fn the_python_miner_mines_real_traces_and_the_rust_proposer_acts_on_them() {
    if !python_or_skip("the_python_miner_mines_real_traces_and_the_rust_proposer_acts_on_them") {
        return;
    }
    PythonMiner::interpreter();
    let dir = tempfile::tempdir().unwrap();
    let files = eval_traces(dir.path());
    let traces: BTreeMap<String, Trace> = files
        .iter()
        .map(|f| {
            let t = Trace::load(f).unwrap();
            (t.id.clone(), t)
        })
        .collect();
    let failed = traces
        .values()
        .filter(|t| t.reward.is_some_and(|r| r < 1.0))
        .count();
    assert!(failed > 0, "the default harness fails some train episodes");

    let nats = Nats::start();
    let client = Client::connect(&nats.url());
    client.put_traces(&files);
    let miner = PythonMiner::start(&nats.url(), &dir.path().join("py-miner.log"));
    let refs: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    let instructions = instructions();
    let weaknesses = client
        .mine(mine_request(&refs, &instructions))
        .unwrap_or_else(|e| panic!("{e}\n{}", miner.log_text()));

    assert!(
        !weaknesses.is_empty(),
        "{failed} failed episodes, no weakness"
    );
    for w in &weaknesses {
        assert!(w.id.starts_with("w-"), "{w:?}");
        assert!(
            w.failures >= 1 && w.tasks >= 1 && w.tasks <= w.failures,
            "{w:?}"
        );
        assert!(!w.evidence.is_empty() && w.evidence.len() <= 12, "{w:?}");
        assert!((0.0..1.0).contains(&w.position), "{w:?}");
        for e in &w.evidence {
            let t = traces
                .get(&e.trace)
                .unwrap_or_else(|| panic!("evidence names no trace we stored: {e:?}"));
            assert!(
                t.reward.is_some_and(|r| r < 1.0),
                "evidence from a passed episode: {e:?}"
            );
            assert_eq!(e.task, t.task_id);
            assert!(
                t.steps.iter().any(|s| s.turn == e.step),
                "no step {} in {}",
                e.step,
                e.trace
            );
        }
    }
    let rank = |w: &Weakness| {
        (
            std::cmp::Reverse(w.failures),
            std::cmp::Reverse(w.tasks),
            w.id.clone(),
        )
    };
    assert!(
        weaknesses.windows(2).all(|p| rank(&p[0]) <= rank(&p[1])),
        "ranked by failures, then tasks, then id"
    );

    // The Rust catalogue proposer acts on what the Python miner found.
    let champion = selfharness_core::harness::Harness::builtin_default();
    let tried = std::collections::BTreeSet::new();
    let policy = selfharness_core::policy::Policy::default();
    let proposals = selfharness_proposer::Proposer::propose(
        &selfharness_proposer::Catalogue,
        &selfharness_proposer::ProposeRequest {
            champion: &champion,
            weaknesses: &weaknesses,
            policy: &policy,
            k: 4,
            tried: &tried,
        },
    );
    assert!(
        !proposals.proposals.is_empty(),
        "no proposal from {weaknesses:#?}: {:?}",
        proposals.rejected
    );
    let targeted: Vec<&str> = proposals
        .proposals
        .iter()
        .flat_map(|p| p.patch.targets.iter().map(String::as_str))
        .collect();
    assert!(targeted
        .iter()
        .all(|t| weaknesses.iter().any(|w| w.id == *t)));

    // Beside the Rust miner on the same traces: a shared signature gets the same id, and the
    // same count (but `premature_done`, which the Python miner also gives the episodes that
    // the Rust one puts under `unnamed_write_path`, a rule it lacks).
    let ordered: Vec<Trace> = refs
        .iter()
        .map(|r| traces[r.trim_end_matches(".json")].clone())
        .collect();
    let rust = selfharness_miner::mine(&selfharness_miner::MineRequest {
        traces: &ordered,
        instructions: &instructions,
    });
    eprintln!(
        "{:<12} {:<20} {:>6} {:>6}   (python / rust failures)",
        "id", "kind", "py", "rust"
    );
    let mut shared = 0;
    for id in weaknesses
        .iter()
        .chain(&rust)
        .map(|w| &w.id)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let py = weaknesses.iter().find(|w| &w.id == id);
        let rs = rust.iter().find(|w| &w.id == id);
        let kind = &py.or(rs).unwrap().kind;
        let count = |w: Option<&Weakness>| w.map_or("-".to_string(), |w| w.failures.to_string());
        eprintln!("{id:<12} {kind:<20} {:>6} {:>6}", count(py), count(rs));
        if let (Some(py), Some(rs)) = (py, rs) {
            shared += 1;
            assert_eq!(
                (&py.kind, &py.tool, &py.error),
                (&rs.kind, &rs.tool, &rs.error)
            );
            if py.kind == "premature_done" {
                assert!(py.failures >= rs.failures, "{py:?}\n{rs:?}");
            } else {
                assert_eq!(
                    (py.failures, py.tasks),
                    (rs.failures, rs.tasks),
                    "{py:?}\n{rs:?}"
                );
            }
        }
    }
    assert!(shared > 0, "the two miners share no weakness id");

    drop(miner);
}

#[test]
fn bad_requests_get_an_error_header_and_the_miner_keeps_serving() {
    if !python_or_skip("bad_requests_get_an_error_header_and_the_miner_keeps_serving") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start();
    let client = Client::connect(&nats.url());
    let mut miner = PythonMiner::start(&nats.url(), &dir.path().join("py-miner.log"));
    let none = BTreeMap::new();

    let garbage = client.mine(b"not a protobuf".to_vec()).unwrap_err();
    assert!(
        garbage.starts_with("INVALID_ARGUMENT: MineRequest: could not decode"),
        "{garbage}"
    );
    let refs = ["e-nope.json".to_string()];
    let missing = client.mine(mine_request(&refs, &none)).unwrap_err();
    assert_eq!(
        missing,
        "NOT_FOUND: MineRequest: field `trace_refs[0]`: no object \"e-nope.json\" in selfharness_traces"
    );
    let not_a_trace = dir.path().join("e-broken.json");
    std::fs::write(&not_a_trace, r#"{"id": "e-broken", "end": "exploded"}"#).unwrap();
    client.put_traces(&[not_a_trace]);
    let refs = ["e-broken.json".to_string()];
    let broken = client.mine(mine_request(&refs, &none)).unwrap_err();
    assert!(
        broken.starts_with("INVALID_ARGUMENT: MineRequest: field `trace_refs[0]`: \"e-broken.json\" is not a trace"),
        "{broken}"
    );
    // Still serving: an empty request gets an empty answer.
    assert_eq!(client.mine(mine_request(&[], &none)), Ok(vec![]));

    let status = miner.terminate();
    assert!(
        status.success(),
        "exit on SIGTERM: {status}\n{}",
        miner.log_text()
    );
    assert!(miner.log_text().contains("stopped"), "{}", miner.log_text());
}

#[test]
fn the_python_unit_tests_pass() {
    if !python_or_skip("the_python_unit_tests_pass") {
        return;
    }
    let out = Command::new(PythonMiner::interpreter())
        .args(["-m", "unittest", "discover", "-s", "python/miner"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_run_completes_with_the_python_miner_in_place_of_the_rust_one() {
    if !python_or_skip("a_run_completes_with_the_python_miner_in_place_of_the_rust_one") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let nats = Nats::start();
    // No `selfharness miner` anywhere: the coordinator's mine requests can only reach Python.
    let miner = PythonMiner::start(&nats.url(), &tmp.path().join("py-miner.log"));
    let _proposer = Service::start(&nats, "proposer", &[], &tmp.path().join("proposer.log"));
    let _coordinator = Service::start(
        &nats,
        "coordinator",
        &["--runs", tmp.path().join("runs").to_str().unwrap()],
        &tmp.path().join("coordinator.log"),
    );
    let _validator = Service::start(
        &nats,
        "validator",
        &["--concurrency", "4"],
        &tmp.path().join("validator.log"),
    );
    let harness = fast_harness(tmp.path(), 4);
    let out = tmp.path().join("run");
    let o = Command::new(bin())
        .args([
            "run",
            "--nats",
            &nats.url(),
            "--generations",
            "2",
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
            "--harness",
            harness.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the run failed: {}\n{}\npython miner log:\n{}",
        stderr(&o),
        stdout(&o),
        miner.log_text()
    );
    let events = events(&out);
    assert!(
        events.iter().any(|e| e["type"] == "finished"),
        "the run finished"
    );
    assert!(
        !events.iter().any(|e| e["type"] == "stage_failed"),
        "no stage failed: {events:?}"
    );
    let mined: Vec<&serde_json::Value> = events.iter().filter(|e| e["type"] == "mined").collect();
    assert!(!mined.is_empty(), "the loop mined");
    assert!(
        mined
            .iter()
            .all(|e| !e["weaknesses"].as_array().unwrap().is_empty()),
        "every generation got weaknesses from the Python miner"
    );
    let proposed: usize = events
        .iter()
        .filter(|e| e["type"] == "proposed")
        .map(|e| e["proposals"].as_array().unwrap().len())
        .sum();
    assert!(proposed > 0, "the Rust proposer acted on them");
    assert!(
        out.join("report.md").exists(),
        "the client wrote the report"
    );
}
