//! `selfharness run` end to end in one process: generations, event log, harness versions,
//! sealed test split scored only at the end, report.

mod common;
use common::*;

#[test]
fn one_generation_accepts_an_edit_logs_every_stage_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run(&[
        "run",
        "--generations",
        "1",
        "--k",
        "2",
        "--train-trials",
        "2",
        "--val-trials",
        "4",
        "--test-trials",
        "1",
        "--alpha",
        "0.05",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("mined") && text.contains("ACCEPT"), "{text}");
    let events: Vec<serde_json::Value> = std::fs::read_to_string(out.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for k in [
        "run_started",
        "mined",
        "proposed",
        "decided",
        "advanced",
        "stopped",
        "scored",
        "finished",
    ] {
        assert!(kinds.contains(&k), "no {k} event");
    }
    // Sealed: no test-split evaluation is logged before the run stopped.
    let stopped = kinds.iter().position(|k| *k == "stopped").unwrap();
    let test_tasks: Vec<String> = selfharness_core::task::Suite::load(&root().join("tasks"))
        .unwrap()
        .split(selfharness_core::task::Split::Test)
        .iter()
        .map(|t| t.id.clone())
        .collect();
    for e in &events[..stopped] {
        if e["type"] == "evaluated" {
            assert!(
                !test_tasks.contains(&e["evaluation"]["task_id"].as_str().unwrap().to_string()),
                "test split evaluated before the end"
            );
        }
    }
    // No evaluation logged twice.
    let mut keys: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "evaluated")
        .map(|e| e["evaluation"]["key"].as_str().unwrap())
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "an evaluation was logged twice");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("## Lineage")
            && report.contains("**accepted**")
            && report.contains("| test |"),
        "{report}"
    );
    assert!(
        std::fs::read_dir(out.join("harnesses")).unwrap().count() >= 2,
        "baseline and new champion saved"
    );
}

/// Issue #4: a run killed (SIGKILL) mid-generation and resumed with `--resume` reaches the same
/// final champion as an uninterrupted run with the same seed, runs exactly the same
/// evaluations, and logs none of them twice.
#[test]
fn a_killed_run_resumes_to_the_same_champion_with_no_evaluation_lost_or_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let harness = fast_harness(dir.path(), 2);
    let args = |out: &std::path::Path| -> Vec<String> {
        [
            "run",
            "--generations",
            "2",
            "--k",
            "2",
            "--train-trials",
            "2",
            "--val-trials",
            "4",
            "--test-trials",
            "1",
            "--alpha",
            "0.1",
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
    };
    let whole = dir.path().join("whole");
    let o = std::process::Command::new(bin())
        .args(args(&whole))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = |d: &std::path::Path| {
        std::fs::read_to_string(d.join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let total = lines(&whole);
    assert!(
        total > 50,
        "the run is long enough to be cut: {total} lines"
    );

    // The same run, killed once half its log is written.
    let cut = dir.path().join("cut");
    let mut child = std::process::Command::new(bin())
        .args(args(&cut))
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while lines(&cut) < total / 2 {
        assert!(t0.elapsed().as_secs() < 300, "the run never got half way");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !cut.join("report.md").exists(),
        "killed before the end of the run"
    );
    let o = run(&["run", "--quiet", "--resume", cut.to_str().unwrap()]);
    assert!(o.status.success(), "resume failed: {}", stderr(&o));

    let keys = |ev: &[serde_json::Value]| -> Vec<String> {
        ev.iter()
            .filter(|e| e["type"] == "evaluated")
            .map(|e| e["evaluation"]["key"].as_str().unwrap().to_string())
            .collect()
    };
    let (a, b) = (events(&whole), events(&cut));
    assert_eq!(champion(&whole), champion(&cut), "same final champion");
    let (mut ka, mut kb) = (keys(&a), keys(&b));
    let n = kb.len();
    kb.sort();
    kb.dedup();
    assert_eq!(kb.len(), n, "an evaluation was logged twice after resume");
    ka.sort();
    assert_eq!(
        ka, kb,
        "the resumed run ran exactly the evaluations of the whole run"
    );
    let decisions = |ev: &[serde_json::Value]| -> Vec<(String, bool)> {
        ev.iter()
            .filter(|e| e["type"] == "decided")
            .map(|e| {
                (
                    e["proposal"].as_str().unwrap().to_string(),
                    e["decision"]["accepted"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(decisions(&a), decisions(&b), "same decisions");
}
