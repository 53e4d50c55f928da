//! The docker compose deployment end to end (issue #5): build the image with
//! scripts/docker-build.sh, bring up nats, the coordinator, a miner, a proposer and 3
//! validators with `docker compose`, submit a small loop with the client service, check its
//! report, tear everything down. Skips, saying so,
//! where there is no docker engine.

mod common;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The image the test builds: its own tag, so `selfharness:local` (a release build) is left as
/// it was; the two share the root filesystem layer.
const IMAGE: &str = "selfharness:test";
const VALIDATORS: usize = 3;

/// `docker compose` (v2) where it exists, else `docker-compose` (v1).
fn compose_program() -> Vec<String> {
    let works = |program: &[&str]| {
        Command::new(program[0])
            .args(&program[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let program = [&["docker", "compose"][..], &["docker-compose"][..]]
        .into_iter()
        .find(|p| works(p))
        .expect("a docker engine but neither `docker compose` nor `docker-compose`");
    program.iter().map(|s| s.to_string()).collect()
}

/// A compose project with a unique name; `down -v` on drop, whatever happened.
struct Project {
    program: Vec<String>,
    name: String,
    runs: PathBuf,
}

impl Project {
    /// A `docker compose` command for this project, its configuration only from `vars` (no
    /// SELFHARNESS_* variable of the caller's environment leaks in).
    fn compose(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.program[0]);
        c.args(&self.program[1..])
            .arg("-f")
            .arg(root().join("docker-compose.yml"))
            .args(["-p", &self.name])
            .args(args)
            .current_dir(root());
        for (k, _) in std::env::vars() {
            if k.starts_with("SELFHARNESS_") || k.starts_with("COMPOSE_") {
                c.env_remove(k);
            }
        }
        let meta = std::fs::metadata(&self.runs).unwrap();
        let user = format!("{}:{}", meta.uid(), meta.gid());
        let vars = [
            ("SELFHARNESS_IMAGE", IMAGE),
            // A free host port: this test must not collide with a nats-server on 4222.
            ("SELFHARNESS_NATS_PORT", "0"),
            ("SELFHARNESS_GRPC_PORT", "0"),
            ("SELFHARNESS_RUNS", self.runs.to_str().unwrap()),
            // Runs are written as the owner of the temp dir, so it can be removed afterwards.
            ("SELFHARNESS_USER", &user),
            ("SELFHARNESS_HARNESS", "runs/fast.toml"),
            ("SELFHARNESS_GENERATIONS", "1"),
            ("SELFHARNESS_K", "2"),
            ("SELFHARNESS_TRAIN_TRIALS", "2"),
            ("SELFHARNESS_VAL_TRIALS", "4"),
            ("SELFHARNESS_TEST_TRIALS", "1"),
            ("SELFHARNESS_SEED", "5"),
            ("SELFHARNESS_CONCURRENCY", "3"),
        ];
        c.envs(vars);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let o = self.compose(args).output().expect("docker compose runs");
        assert!(
            o.status.success(),
            "compose {args:?} failed:\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        o
    }

    /// What `docker compose logs` shows, for failure messages.
    fn logs(&self) -> String {
        let o = self.compose(&["logs", "--no-color"]).output().unwrap();
        stdout(&o)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self
            .compose(&["--profile", "run", "down", "-v", "--remove-orphans"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn docker_engine() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Build the image from the binary under test.
fn build_image() {
    let t0 = Instant::now();
    let o = Command::new("bash")
        .arg(root().join("scripts/docker-build.sh"))
        .env("SELFHARNESS_IMAGE", IMAGE)
        .env("SELFHARNESS_BIN", bin())
        .current_dir(root())
        .output()
        .expect("bash runs");
    assert!(
        o.status.success(),
        "scripts/docker-build.sh failed:\n{}",
        stderr(&o)
    );
    eprintln!("image built in {:.1}s", t0.elapsed().as_secs_f64());
}

/// Run `cmd` to its end or kill it after `limit`.
fn output_within(mut cmd: Command, limit: Duration) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(child.wait_with_output().unwrap())
}

/// Evaluations each container logged as done.
fn done_by_container(ids: &[String]) -> Vec<usize> {
    ids.iter()
        .map(|id| {
            let o = Command::new("docker").args(["logs", id]).output().unwrap();
            (stdout(&o) + &stderr(&o))
                .matches("evaluation done")
                .count()
        })
        .collect()
}

#[test]
fn compose_stack_with_three_validators_runs_a_loop_to_its_report() {
    if !docker_engine() {
        eprintln!("skipped: no docker engine (`docker info` fails)");
        return;
    }
    let t0 = Instant::now();
    build_image();
    let tmp = tempfile::tempdir().unwrap();
    // As in tests/distributed.rs: planted hangs cost little, no real step comes near it.
    fast_harness(tmp.path(), 4);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let project = Project {
        program: compose_program(),
        name: format!("shtest{}x{nanos}", std::process::id()),
        runs: tmp.path().to_path_buf(),
    };
    let scale = format!("validator={VALIDATORS}");
    project.run(&["up", "-d", "--scale", &scale]);
    let ids: Vec<String> = stdout(&project.run(&["ps", "-q", "validator"]))
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), VALIDATORS, "{}", project.logs());

    // The validators' own sandbox works there: every reference solution passes, doing nothing
    // fails (a tool missing from the image shows here by name).
    let o = Command::new("docker")
        .args(["exec", "-u", "selfharness", &ids[0]])
        .args(["selfharness", "tasks", "check", "--suite", "tasks"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tasks check in a validator container:\n{}{}",
        stdout(&o),
        stderr(&o)
    );

    let run = output_within(
        project.compose(&["run", "--rm", "client"]),
        Duration::from_secs(240),
    )
    .unwrap_or_else(|| panic!("the loop did not finish in 4 min\n{}", project.logs()));
    assert!(
        run.status.success(),
        "the client failed:\n{}{}\n{}",
        stdout(&run),
        stderr(&run),
        project.logs()
    );

    let dirs: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one run directory: {dirs:?}");
    let dir = &dirs[0];
    let events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events.jsonl");
    let events: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events.iter().any(|e| e["type"] == "finished"),
        "the run finished"
    );
    let evaluated = events.iter().filter(|e| e["type"] == "evaluated").count();
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(
        report.contains("h-"),
        "report.md names the champion:\n{report}"
    );
    assert!(stdout(&run).contains("final champion"), "{}", stdout(&run));

    // Results carry the validator's name only on the bus; the containers' logs show who did
    // the work.
    let done = done_by_container(&ids);
    eprintln!(
        "{evaluated} evaluations, done per validator container: {done:?}; {:.0}s in all",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        done.iter().sum::<usize>() >= evaluated,
        "every evaluation was done by a validator of the stack: {done:?} for {evaluated}"
    );
    assert!(
        done.iter().filter(|&&n| n > 0).count() >= 2,
        "jobs spread over the validators: {done:?}"
    );
}
