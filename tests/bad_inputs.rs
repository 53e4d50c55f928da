//! Bad input gets a clear error naming the file, field and reason, and the run goes on where
//! it can.

mod common;
use common::*;
use std::path::Path;

fn copy_task(id: &str, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(root().join("tasks").join(id))
        .arg(to.join(id))
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn malformed_tasks_are_named_and_the_rest_of_the_suite_runs() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    copy_task("csv-column-sum", &suite);
    copy_task("extract-emails", &suite);
    std::fs::remove_file(suite.join("extract-emails/tests/test.sh")).unwrap();
    copy_task("markdown-toc", &suite);
    std::fs::write(
        suite.join("markdown-toc/task.toml"),
        "schema_version = \"1.1\"\n[agent]\ntimeout_sec = \"ten\"\n",
    )
    .unwrap();
    let o = run(&[
        "eval",
        "--suite",
        suite.to_str().unwrap(),
        "--split",
        "all",
        "--harness",
        "harnesses/oracle.toml",
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(
        err.contains("extract-emails/tests/test.sh") && err.contains("missing"),
        "{err}"
    );
    assert!(
        err.contains("markdown-toc/task.toml") && err.contains("timeout_sec"),
        "{err}"
    );
    assert!(o.status.success(), "{err}");
    assert!(
        stdout(&o).contains("csv-column-sum"),
        "the good task still ran"
    );
}

#[test]
fn unknown_wrapper_kind_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("h.toml");
    std::fs::write(
        &h,
        "system_prompt = \"x\"\n[[wrappers]]\nkind = \"mind_reader\"\n",
    )
    .unwrap();
    let o = run(&["eval", "--harness", h.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("h.toml")
            && err.contains("mind_reader")
            && err.contains("fail_on_nonzero_exit"),
        "{err}"
    );
}

#[test]
fn patch_editing_a_forbidden_field_is_rejected_naming_edit_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, "rationale = \"x\"\n[[edits]]\nop = \"append\"\npath = \"wrappers\"\nvalue = { kind = \"fail_on_nonzero_exit\" }\n[[edits]]\nop = \"set\"\npath = \"verifier\"\nvalue = \"always pass\"\n").unwrap();
    let pol = dir.path().join("policy.toml");
    std::fs::write(&pol, "mutable = [\"wrappers\"]\n").unwrap();
    let o = run(&[
        "patch",
        "--patch",
        p.to_str().unwrap(),
        "--policy",
        pol.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("edit 2 (set verifier)") && err.contains("not mutable"),
        "{err}"
    );
}

#[test]
fn patch_mentioning_a_task_id_is_rejected_with_suite_guard() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.json");
    std::fs::write(&p, r#"{"rationale":"x","edits":[{"op":"set","path":"system_prompt","value":"For csv-column-sum print the total"}]}"#).unwrap();
    let o = run(&["patch", "--patch", p.to_str().unwrap(), "--suite", "tasks"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("forbidden content \"csv-column-sum\""),
        "{}",
        stderr(&o)
    );
    let good = dir.path().join("g.json");
    std::fs::write(&good, r#"{"rationale":"x","edits":[{"op":"append","path":"wrappers","value":{"kind":"truncate_output","max_bytes":4000}}]}"#).unwrap();
    let o = run(&[
        "patch",
        "--patch",
        good.to_str().unwrap(),
        "--suite",
        "tasks",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("truncate_output"));
    // The same two with --json, for scripts.
    let o = run(&["patch", "--json", "--patch", good.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["harness"]["wrappers"][0]["kind"], "truncate_output");
    assert_ne!(v["from"], v["to"]);
    let o = run(&[
        "patch",
        "--json",
        "--patch",
        p.to_str().unwrap(),
        "--suite",
        "tasks",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["rejected"]
            .as_str()
            .unwrap()
            .contains("forbidden content \"csv-column-sum\""),
        "{v}"
    );
}

/// A server that answers every request with a body that is not JSON.
fn garbage_server() -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        for s in l.incoming().take(2) {
            let mut s = s.unwrap();
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let body = "this is not json {";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, h)
}

#[test]
fn model_reply_that_is_not_json_ends_the_episode_not_the_run() {
    let (url, _h) = garbage_server();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    copy_task("csv-column-sum", &suite);
    copy_task("extract-emails", &suite);
    let o = run(&[
        "eval",
        "--json",
        "--suite",
        suite.to_str().unwrap(),
        "--split",
        "all",
        "--jobs",
        "1",
        "--model",
        "openai",
        "--base-url",
        &url,
        "--model-name",
        "m",
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["evaluations"], 2);
    for t in s["tasks"].as_array().unwrap() {
        assert_eq!(t["ends"][0], "model_error", "{t}");
    }
    let results = std::fs::read_to_string(dir.path().join("run/results.jsonl")).unwrap();
    let trace_name = serde_json::from_str::<serde_json::Value>(results.lines().next().unwrap())
        .unwrap()["trace"]
        .as_str()
        .unwrap()
        .to_string();
    let trace = std::fs::read_to_string(dir.path().join("run/traces").join(trace_name)).unwrap();
    assert!(
        trace.contains("not a chat completion"),
        "the trace names the reason: {trace}"
    );
}
