//! The routes over real HTTP: a server on port 0 ([`spawn`]) and requests written by hand on a
//! socket, so that nothing normalises a path or hides the SSE framing.

use super::*;
use crate::hub::tests::run_events;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

struct Reply {
    status: u16,
    head: String,
    body: String,
}

fn request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    s
}

fn parse(raw: &[u8]) -> Reply {
    let raw = String::from_utf8_lossy(raw).into_owned();
    let (head, mut rest) = raw.split_once("\r\n\r\n").expect("a response head");
    let status = head[9..12].parse().unwrap();
    let mut body = String::new();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            body.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
    } else {
        body = rest.to_string();
    }
    Reply {
        status,
        head: head.to_ascii_lowercase(),
        body,
    }
}

fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut raw = Vec::new();
    request(addr, path, headers).read_to_end(&mut raw).unwrap();
    parse(&raw)
}

/// (id, event, data) of every SSE frame of `body`; comments are skipped.
fn frames(body: &str) -> Vec<(u64, String, String)> {
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty() && !f.starts_with(':'))
        .map(|f| {
            let field = |name: &str| {
                f.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_else(|| panic!("no {name} in {f:?}"))
                    .to_string()
            };
            (field("id").parse().unwrap(), field("event"), field("data"))
        })
        .collect()
}

fn finished_run() -> Arc<Hub> {
    let hub = Arc::new(Hub::new(None));
    for (i, e) in run_events().iter().enumerate() {
        hub.logged("r", i as u64 + 1, e);
    }
    hub
}

#[test]
fn the_stream_frames_each_event_and_resumes_after_the_last_event_id() {
    let addr = spawn("127.0.0.1:0", finished_run()).unwrap();
    let all = get(addr, "/runs/r/events", &[]);
    assert_eq!(all.status, 200);
    assert!(all.head.contains("content-type: text/event-stream"));
    let f = frames(&all.body);
    assert_eq!(
        f.iter().map(|f| f.0).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    for ((_, kind, data), e) in f.iter().zip(run_events()) {
        assert_eq!(data, &serde_json::to_string(&e).unwrap());
        assert_eq!(
            kind,
            serde_json::from_str::<serde_json::Value>(data).unwrap()["type"]
                .as_str()
                .unwrap()
        );
    }
    assert_eq!(f[7].1, "finished", "the stream ends after finished");
    let ids = |r: Reply| frames(&r.body).iter().map(|f| f.0).collect::<Vec<_>>();
    assert_eq!(
        ids(get(addr, "/runs/r/events", &[("Last-Event-ID", "5")])),
        vec![6, 7, 8]
    );
    assert_eq!(ids(get(addr, "/runs/r/events?after=6", &[])), vec![7, 8]);
    // A reconnecting browser's Last-Event-ID wins over the page's ?after.
    let r = get(addr, "/runs/r/events?after=2", &[("Last-Event-ID", "7")]);
    assert_eq!(ids(r), vec![8]);
    // Nothing after the end: 204 stops the browser from reconnecting.
    assert_eq!(
        get(addr, "/runs/r/events", &[("Last-Event-ID", "8")]).status,
        204
    );
    assert_eq!(get(addr, "/runs/nope/events", &[]).status, 404);
}

#[test]
fn a_watcher_gets_the_replay_then_each_live_event_then_the_end() {
    let hub = Arc::new(Hub::new(None));
    let events = run_events();
    for (i, e) in events[..3].iter().enumerate() {
        hub.logged("r", i as u64 + 1, e);
    }
    let addr = spawn("127.0.0.1:0", hub.clone()).unwrap();
    let mut s = request(addr, "/runs/r/events", &[]);
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // The replay arrives before anything more is logged.
    while !String::from_utf8_lossy(&raw).contains("id: 3\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended early");
        raw.extend_from_slice(&buf[..n]);
    }
    for (i, e) in events.iter().enumerate().skip(3) {
        hub.logged("r", i as u64 + 1, e);
        std::thread::sleep(Duration::from_millis(20));
    }
    s.read_to_end(&mut raw).unwrap();
    let f = frames(&parse(&raw).body);
    assert_eq!(
        f.iter().map(|f| f.0).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
}

#[test]
fn files_are_served_from_the_run_directory_only() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("r");
    std::fs::create_dir_all(run.join("traces")).unwrap();
    std::fs::write(run.join("report.html"), "<p>report</p>").unwrap();
    std::fs::write(run.join("traces/e-1.html"), "<p>trace</p>").unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), run.join("leak.html")).unwrap();
    std::os::unix::fs::symlink("traces/e-1.html", run.join("inside.html")).unwrap();
    let hub = Arc::new(Hub::new(Some(tmp.path().to_path_buf())));
    let addr = spawn("127.0.0.1:0", hub).unwrap();
    let ok = get(addr, "/runs/r/files/report.html", &[]);
    assert_eq!((ok.status, ok.body.as_str()), (200, "<p>report</p>"));
    assert!(ok.head.contains("content-type: text/html"));
    assert_eq!(get(addr, "/runs/r/files/traces/e-1.html", &[]).status, 200);
    assert_eq!(get(addr, "/runs/r/files/inside.html", &[]).status, 200);
    for bad in [
        "/runs/r/files/../secret.txt",
        "/runs/r/files/%2e%2e/secret.txt",
        "/runs/r/files/traces/..%2f..%2fsecret.txt",
        "/runs/r/files/leak.html",
        "/runs/r/files//etc/passwd",
        "/runs/r/files/nope.html",
        "/runs/../files/secret.txt",
    ] {
        let r = get(addr, bad, &[]);
        assert_eq!(r.status, 404, "{bad}");
        assert!(!r.body.contains("secret\n") && r.body != "secret", "{bad}");
    }
    assert!(routes::confine(&run, "/etc/passwd").is_none());
    assert!(routes::confine(&run, "traces/../report.html").is_none());
    assert!(routes::confine(&run, "").is_none());
}

#[test]
fn metrics_health_and_pages_answer() {
    let addr = spawn("127.0.0.1:0", finished_run()).unwrap();
    let m = get(addr, "/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(m.head.contains("content-type: text/plain; version=0.0.4"));
    assert!(m
        .body
        .contains("selfharness_evaluations_total{status=\"passed\"} 1\n"));
    assert!(m.body.contains("selfharness_generation{run=\"r\"} 1\n"));
    assert_eq!(get(addr, "/healthz", &[]).body, "ok\n");
    let list = get(addr, "/", &[]);
    assert!(
        list.body.contains("<a href=\"/runs/r\">r</a>"),
        "{}",
        list.body
    );
    assert!(list
        .head
        .contains("content-security-policy: default-src 'none'"));
    let page = get(addr, "/runs/r", &[]);
    assert!(page.body.contains("<svg id=\"chart\"") && page.body.contains("id=\"lineage\""));
    assert_eq!(get(addr, "/runs/other", &[]).status, 404);
}

#[test]
fn a_bare_run_directory_lives_in_the_current_one() {
    assert_eq!(
        runs_dir_and_id(Path::new("runs/run-1")),
        (PathBuf::from("runs"), "run-1".to_string())
    );
    assert_eq!(
        runs_dir_and_id(Path::new("small")),
        (PathBuf::from("."), "small".to_string())
    );
}
