//! Helpers shared by the end-to-end tests: the binary, the repo root, running commands.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_selfharness"))
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Run `selfharness` with `args` from the repo root.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(root())
        .output()
        .expect("selfharness runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run `eval --json` and parse the summary.
pub fn eval_json(extra: &[&str], out: &Path) -> serde_json::Value {
    let mut args = vec!["eval", "--json", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(
        o.status.success(),
        "eval failed: {}\n{}",
        stderr(&o),
        stdout(&o)
    );
    serde_json::from_slice(&o.stdout).expect("eval --json prints JSON")
}

/// Per-task outcome strings, e.g. `("csv-column-sum", [true], ["done"])`.
pub fn outcomes(summary: &serde_json::Value) -> Vec<(String, u64, Vec<String>)> {
    summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let ends = t["ends"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect();
            (
                t["task_id"].as_str().unwrap().to_string(),
                t["passed"].as_u64().unwrap(),
                ends,
            )
        })
        .collect()
}

/// Write `dir/fast.toml`: the default harness with a `timeout_sec` command limit, so planted
/// hangs cost little in end-to-end runs. Returns its path.
pub fn fast_harness(dir: &Path, timeout_sec: u64) -> PathBuf {
    let mut h = selfharness_core::harness::Harness::builtin_default();
    h.limits.command_timeout_sec = timeout_sec;
    let p = dir.join("fast.toml");
    std::fs::write(&p, h.to_toml()).unwrap();
    p
}

/// Every event of a run directory's `events.jsonl`.
pub fn events(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The final champion of a finished run.
pub fn champion(dir: &Path) -> String {
    events(dir)
        .iter()
        .find(|e| e["type"] == "finished")
        .map(|e| e["champion"].as_str().unwrap().to_string())
        .expect("a finished event")
}

/// A `nats-server -js` on a free port with its store in a temp dir; killed on drop.
pub struct Nats {
    pub child: Child,
    pub port: u16,
    pub _store: tempfile::TempDir,
}

impl Nats {
    pub fn start() -> Nats {
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
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `selfharness <role>` service process; killed on drop.
pub struct Service(pub Child);

impl Service {
    pub fn start(nats: &Nats, role: &str, extra: &[&str], log: &Path) -> Service {
        let child = Command::new(bin())
            .args([role, "--nats", &nats.url()])
            .args(extra)
            .env("SELFHARNESS_LOG", "info")
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Service(child)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
