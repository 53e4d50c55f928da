//! The live dashboard in a real browser (issue #7): `selfharness run --http` on a small run, its
//! live page opened in headless Chromium while the run is going (once stopped after a few
//! live events with `?until=`, once followed to the end), the runs list, the report link and
//! `/metrics` checked after it finished, and the same run served again from disk by
//! `selfharness dashboard`. The page's script marks on `<html>` what it received and drew
//! (data-status, data-events, data-last-seq, data-proposals, data-chart-points); no console
//! message may appear. A screenshot of the finished live page is saved as
//! `target/dashboard-screenshot.png`.

mod common;
use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
        .expect("chromium is not installed: run `bash scripts/setup.sh`")
}

/// Chromium on `url` with `extra` flags; virtual time waits while the event stream is open, so
/// this returns once the page closed its stream (after `finished`, or at `?until=`).
fn browser(profile: &Path, extra: &[&str], url: &str) -> std::process::Output {
    Command::new("timeout")
        .arg("90")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args(["--enable-logging=stderr", "--v=0", "--hide-scrollbars"])
        .arg("--virtual-time-budget=3000")
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs")
}

/// The DOM after the page's script ran, and every console message.
fn open(profile: &Path, url: &str) -> (String, Vec<String>) {
    let o = browser(profile, &["--dump-dom"], url);
    assert!(o.status.success(), "chromium on {url}: {}", stderr(&o));
    let console = stderr(&o)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect();
    (stdout(&o), console)
}

/// The value of `data-<name>` on the page's `<html>` element.
fn mark<'a>(dom: &'a str, name: &str) -> &'a str {
    let html = &dom[dom.find("<html").expect("an html element")..];
    let html = &html[..html.find('>').unwrap()];
    let key = format!("data-{name}=\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no data-{name} on {html}"))
        + key.len();
    &html[at..at + html[at..].find('"').unwrap()]
}

/// GET `path` over a plain socket: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, mut rest) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return (status, rest.to_string());
    }
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        body.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    (status, body)
}

/// A process of ours, killed (by its pid) when the test ends however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `selfharness args…` with stderr in `log`, and wait for the address it prints after
/// `prefix` (e.g. `dashboard: http://`).
fn start(args: &[&str], log: &Path, prefix: &str) -> (Killed, String) {
    let child = Command::new(bin())
        .args(args)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let child = Killed(child);
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(at) = text.find(prefix) {
            let rest = &text[at + prefix.len()..];
            let addr = rest[..rest.find(['/', ' ', '\n']).unwrap()].to_string();
            return (child, addr);
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no address: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("events.jsonl")).map_or(0, |t| t.lines().count())
}

#[test]
fn the_live_page_follows_a_run_in_chromium_and_metrics_count_its_evaluations() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let run_dir = runs.join("live");
    let profile = tmp.path().join("chromium-profile");
    // A 2-second command limit keeps the planted hangs short; α = 0.1 lets 2 trials accept.
    let harness = fast_harness(tmp.path(), 2);
    let (mut run, addr) = start(
        &[
            "run",
            "--quiet",
            "--harness",
            harness.to_str().unwrap(),
            "--generations",
            "2",
            "--k",
            "2",
            "--train-trials",
            "1",
            "--val-trials",
            "2",
            "--test-trials",
            "1",
            "--alpha",
            "0.1",
            "--jobs",
            "48",
            "--out",
            run_dir.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--http-linger",
            "60",
        ],
        &tmp.path().join("run.log"),
        "dashboard: http://",
    );
    let page = format!("http://{addr}/runs/live");

    // While the run is going: follow it for 15 more events than it has logged, then stop.
    let t0 = Instant::now();
    while lines(&run_dir) < 5 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the run logs nothing"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let until = lines(&run_dir) + 15;
    let (dom, console) = open(&profile, &format!("{page}?until={until}"));
    assert!(console.is_empty(), "{console:#?}");
    assert_eq!(mark(&dom, "status"), "paused");
    assert_eq!(mark(&dom, "events"), until.to_string());
    assert_eq!(mark(&dom, "ready"), "true");
    assert!(dom.contains("<svg id=\"chart\"") && dom.contains("id=\"lineage\""));
    assert!(
        dom.contains(&format!("data-seq=\"{until}\"")),
        "the feed shows the last event"
    );

    // Followed to the end: every event of the log arrived, and the page drew the whole run.
    let (dom, console) = open(&profile, &page);
    assert!(console.is_empty(), "{console:#?}");
    assert_eq!(mark(&dom, "status"), "finished");
    let events = events(&run_dir);
    assert_eq!(events.last().unwrap()["type"], "finished");
    assert_eq!(mark(&dom, "last-seq"), events.len().to_string());
    assert_eq!(mark(&dom, "events"), events.len().to_string());
    let proposals: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "proposed")
        .flat_map(|e| e["proposals"].as_array().unwrap())
        .collect();
    assert!(!proposals.is_empty());
    assert_eq!(mark(&dom, "proposals"), proposals.len().to_string());
    let lineage = &dom[dom.find("id=\"lineage\"").unwrap()..];
    for d in events.iter().filter(|e| e["type"] == "decided") {
        let state = if d["decision"]["accepted"] == true {
            "accepted"
        } else {
            "rejected"
        };
        let id = format!("data-proposal=\"{}\"", d["proposal"].as_str().unwrap());
        let at = lineage.find(&id).unwrap_or_else(|| panic!("no {id}"));
        let class = &lineage[lineage[..at].rfind("class=\"").unwrap()..at];
        assert!(
            class.starts_with(&format!("class=\"node proposal {state}")),
            "{id}: {class}"
        );
    }
    assert!(mark(&dom, "chart-points").parse::<u32>().unwrap() >= 2);
    assert!(dom.contains("class=\"bar final\""), "the test split bar");
    assert!(!dom.contains(
        "id=\"report-link\" class=\"button\" href=\"/runs/live/files/report.html\" hidden"
    ));

    // The screenshot of the finished page, kept beside the build for a look.
    let shot = tmp.path().join("dashboard-screenshot.png");
    let o = browser(
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1500",
        ],
        &page,
    );
    assert!(o.status.success(), "screenshot: {}", stderr(&o));
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "not a real screenshot"
    );
    let target = bin().parent().unwrap().parent().unwrap().to_path_buf();
    std::fs::copy(&shot, target.join("dashboard-screenshot.png")).unwrap();

    // After the run: the runs list, the report link, the metrics.
    let (status, list) = get(&addr, "/");
    assert_eq!(status, 200);
    assert!(
        list.contains("data-run=\"live\" data-status=\"finished\""),
        "{list}"
    );
    let link = "/runs/live/files/report.html";
    assert!(list.contains(&format!("href=\"{link}\"")), "{list}");
    let (status, report) = get(&addr, link);
    assert_eq!(status, 200);
    assert!(report.contains("selfharness run report"));
    let (dom, console) = open(&profile, &format!("http://{addr}/"));
    assert!(
        console.is_empty() && dom.contains("id=\"runs\""),
        "{console:#?}"
    );
    let (_, metrics) = get(&addr, "/metrics");
    let counted: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("selfharness_evaluations_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    let evaluated = events.iter().filter(|e| e["type"] == "evaluated").count();
    assert_eq!(counted, evaluated as u64, "{metrics}");
    assert!(
        metrics.contains("selfharness_generation{run=\"live\"} 2\n"),
        "{metrics}"
    );
    assert!(metrics.contains("selfharness_pass_rate{run=\"live\",split=\"test\"}"));
    let _ = run.0.kill();

    // `selfharness dashboard` serves the same run from disk.
    let (_dashboard, addr) = start(
        &[
            "dashboard",
            "--http",
            "127.0.0.1:0",
            "--runs",
            runs.to_str().unwrap(),
        ],
        &tmp.path().join("dashboard.log"),
        "dashboard: http://",
    );
    let (_, list) = get(&addr, "/");
    assert!(
        list.contains("data-run=\"live\" data-status=\"finished\""),
        "{list}"
    );
    let (status, stream) = get(&addr, "/runs/live/events?after=1");
    assert_eq!(status, 200);
    let ids = stream.lines().filter(|l| l.starts_with("id: ")).count();
    assert_eq!(
        ids,
        events.len() - 1,
        "replayed from the log after 1, then ended"
    );
}
