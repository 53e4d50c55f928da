//! The run report in a real browser (issue #7): a small `selfharness run`, then `report.html`
//! and one trace page it links to opened in headless Chromium. The chart and the lineage must be
//! in the DOM after the page's script ran (it marks `<html data-ready>` and counts what
//! rendered), no console message may appear, and screenshots are saved in the test's temp dir
//! and copied to `target/report-screenshot.png` and `target/trace-screenshot.png`. Also checks
//! `runs`, `show` and `report`. Chromium is installed by `scripts/setup.sh`.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!("chromium is not installed: run `bash scripts/setup.sh`");
}

/// What the browser made of a page: the DOM after scripts ran, and every console message.
struct Page {
    dom: String,
    console: Vec<String>,
}

fn browser(profile: &Path, extra: &[&str], file: &Path) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args(["--enable-logging=stderr", "--v=0", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs")
}

fn open(profile: &Path, file: &Path) -> Page {
    let o = browser(profile, &["--dump-dom"], file);
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    Page {
        dom: stdout(&o),
        console: stderr(&o)
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(String::from)
            .collect(),
    }
}

fn screenshot(profile: &Path, file: &Path, out: &Path, size: &str) {
    let shot = format!("--screenshot={}", out.display());
    let o = browser(profile, &[&shot, &format!("--window-size={size}")], file);
    assert!(o.status.success(), "chromium screenshot: {}", stderr(&o));
    let png = std::fs::read(out).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "not a real screenshot"
    );
}

/// The part of the DOM from the element with `id` to the end of its section.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let Some(start) = dom.find(&format!("id=\"{id}\"")) else {
        return "";
    };
    let end = dom[start..]
        .find("</section>")
        .map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

/// Everything wrong with the report page, given what report.json says should be in it.
fn report_problems(p: &Page, summary: &serde_json::Value) -> Vec<String> {
    let mut bad: Vec<String> = p.console.iter().map(|l| format!("console: {l}")).collect();
    if !p.dom.contains("data-ready=\"true\"") {
        bad.push("the page's script did not finish".into());
    }
    let chart = section(&p.dom, "pass-rate-chart");
    if !chart.contains("<svg") || chart.matches("class=\"pt val\"").count() < 2 {
        bad.push("the pass-rate chart has no line of points".into());
    }
    if !chart.contains("class=\"bar test baseline\"") || !chart.contains("class=\"bar test final\"")
    {
        bad.push("the chart lacks the sealed test bars".into());
    }
    let lineage = section(&p.dom, "lineage");
    if !lineage.contains("<svg class=\"lineage\"") {
        bad.push("no lineage graph".into());
    }
    let proposals: Vec<&serde_json::Value> = summary["generations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["proposals"].as_array().unwrap())
        .collect();
    if !p
        .dom
        .contains(&format!("data-proposals=\"{}\"", proposals.len()))
    {
        bad.push(format!(
            "the script did not count {} proposal nodes",
            proposals.len()
        ));
    }
    for pr in proposals.iter().filter(|p| !p["decision"].is_null()) {
        let state = if pr["decision"]["accepted"] == true {
            "accepted"
        } else {
            "rejected"
        };
        let node = format!(
            "class=\"node proposal {state}\" data-proposal=\"{}\"",
            pr["id"].as_str().unwrap()
        );
        if !lineage.contains(&node) {
            bad.push(format!("lineage lacks {node}"));
        }
    }
    for id in ["weaknesses", "diff", "cost", "ablation", "summary"] {
        if !p.dom.contains(&format!("id=\"{id}\"")) {
            bad.push(format!("no #{id}"));
        }
    }
    bad
}

#[test]
fn the_report_and_a_trace_page_render_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let run_dir = runs.join("small");
    // A 2-second command limit keeps the planted hangs short; α = 0.1 lets 2 trials accept.
    let harness = fast_harness(tmp.path(), 2);
    let o = run(&[
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
    ]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    let report = run_dir.join("report.html");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(summary["status"], "finished");
    assert_eq!(summary["generations"].as_array().unwrap().len(), 2);

    // The CLI: listed as finished, shown with its report, regenerated byte for byte.
    let o = run(&["runs", "--dir", runs.to_str().unwrap(), "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).expect("runs --json");
    assert_eq!(list[0]["id"], "small");
    assert_eq!(list[0]["status"], "finished");
    assert!(
        list[0]["final_validation"].as_f64().unwrap()
            >= list[0]["baseline_validation"].as_f64().unwrap()
    );
    let o = run(&["show", "small", "--dir", runs.to_str().unwrap()]);
    assert!(
        stdout(&o).contains(report.to_str().unwrap()),
        "{}",
        stdout(&o)
    );
    let before = std::fs::read(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    let o = run(&["report", run_dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&report).unwrap(),
        before,
        "report regenerated from the log alone"
    );

    // The report in the browser.
    let profile = tmp.path().join("chromium-profile");
    let page = open(&profile, &report);
    let bad = report_problems(&page, &summary);
    assert!(bad.is_empty(), "report.html: {bad:#?}");

    // The checks above do catch a broken page: no lineage and a script that throws.
    let broken = tmp.path().join("broken.html");
    let html = String::from_utf8(before).unwrap();
    let start = html.find("<section id=\"lineage\">").unwrap();
    let end = start + html[start..].find("</section>").unwrap();
    let html = format!("{}{}", &html[..start], &html[end..])
        .replace("<script>", "<script>throw new Error('broken on purpose');");
    std::fs::write(&broken, html).unwrap();
    let bad = report_problems(&open(&profile, &broken), &summary);
    assert!(
        bad.iter().any(|b| b.contains("broken on purpose")),
        "{bad:#?}"
    );
    assert!(
        bad.iter().any(|b| b.contains("no lineage graph")),
        "{bad:#?}"
    );

    // A trace page the report links to as evidence.
    let at = page.dom.find("href=\"traces/").expect("an evidence link") + 6;
    let link = &page.dom[at..at + page.dom[at..].find('"').unwrap()];
    let (file, step) = link.split_once('#').unwrap();
    let trace = open(&profile, &run_dir.join(file));
    assert!(trace.console.is_empty(), "{:#?}", trace.console);
    assert!(
        trace.dom.contains("data-ready=\"true\""),
        "trace page script did not finish"
    );
    assert!(
        trace
            .dom
            .contains(&format!("class=\"step evidence\" id=\"{step}\"")),
        "{link}"
    );
    assert!(trace.dom.contains("id=\"end\"") && trace.dom.contains("id=\"verifier\""));

    // Screenshots, kept beside the build for a look.
    let target = bin().parent().unwrap().parent().unwrap().to_path_buf();
    for (page, name, size) in [
        (&report, "report-screenshot.png", "1280,2200"),
        (&run_dir.join(file), "trace-screenshot.png", "1280,1400"),
    ] {
        let shot = tmp.path().join(name);
        screenshot(&profile, page, &shot, size);
        std::fs::copy(&shot, target.join(name)).unwrap();
    }
}
