//! The two HTML pages, self-contained (inline CSS and JS, nothing loaded from elsewhere): the
//! runs list, rendered here from [`RunInfo`]s, and the live run page, a shell that
//! `live.js` fills from the run's event stream. Every text from data goes through [`esc`].

use crate::hub::{RunInfo, Tail};
use selfharness_coordinator::report::esc;
use std::fmt::Write;
use std::time::SystemTime;

const CSS: &str = include_str!("dashboard.css");
const LIVE_JS: &str = include_str!("live.js");

fn head(title: &str, extra: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"{extra}><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{CSS}</style></head><body>\n",
        esc(title)
    )
}

/// `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
fn ago(t: SystemTime) -> String {
    let s = SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs());
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{:.1} %", 100.0 * x))
}

/// `GET /`: every run, newest first; refreshes itself while a run is going.
pub fn runs_list(runs: &[RunInfo]) -> String {
    let running = runs.iter().any(|r| r.status == "running");
    let mut h = head("selfharness runs", "");
    if running {
        h = h.replace(
            "<title>",
            "<meta http-equiv=\"refresh\" content=\"5\"><title>",
        );
    }
    h.push_str("<header class=\"top\"><div class=\"title-row\"><h1><a class=\"home\" href=\"/\">selfharness</a> <span class=\"sep\">/</span> runs</h1></div><div class=\"muted\">Live runs of this process and the past runs of its runs directory. <a href=\"/metrics\">metrics</a></div></header>\n<main>\n");
    if runs.is_empty() {
        h.push_str("<p class=\"muted\" id=\"no-runs\">No runs yet.</p>");
    } else {
        h.push_str("<section class=\"panel\"><table id=\"runs\"><thead><tr><th>run</th><th>status</th><th>started</th><th>model</th><th class=\"num\">generations</th><th>validation pass rate: baseline → champion</th><th class=\"num\">evaluations</th><th>report</th></tr></thead><tbody>\n");
        for r in runs {
            let s = &r.summary;
            let planned = s
                .config
                .as_ref()
                .map_or(String::new(), |c| format!(" / {}", c.generations));
            let (base, fin) = (
                s.baseline.validation.as_ref().map(|v| v.rate),
                s.final_.validation.as_ref().map(|v| v.rate),
            );
            let delta = match (base, fin) {
                (Some(b), Some(f)) if (f - b).abs() > 1e-9 => format!(
                    " <span class=\"delta {}\">{:+.1} pp</span>",
                    if f > b { "up" } else { "down" },
                    100.0 * (f - b)
                ),
                _ => String::new(),
            };
            let report = if r.has_report {
                format!(
                    "<a class=\"report\" href=\"/runs/{}/files/report.html\">report.html</a>",
                    esc(&r.id)
                )
            } else {
                "<span class=\"muted\">—</span>".into()
            };
            let _ = writeln!(
                h,
                "<tr class=\"run\" data-run=\"{id}\" data-status=\"{st}\"><td class=\"id\"><a href=\"/runs/{id}\">{id}</a></td><td><span class=\"badge {st}\">{st}</span></td><td title=\"{}\">{}</td><td><code>{}</code></td><td class=\"num\">{}{planned}</td><td>{} → {}{delta}</td><td class=\"num\">{}</td><td>{report}</td></tr>",
                r.started.map_or(0, |t| t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())),
                r.started.map_or("—".into(), ago),
                esc(&s.model_id),
                s.generations.len(),
                pct(base),
                pct(fin),
                s.cost.evaluations,
                id = esc(&r.id),
                st = r.status,
            );
        }
        h.push_str("</tbody></table></section>\n");
    }
    h.push_str("</main></body></html>\n");
    h
}

/// `GET /runs/{id}`: the live page's shell. `t` is what the run holds now (its last seq and
/// whether it is fed live); the script follows the event stream from the first event.
pub fn run_page(id: &str, t: &Tail) -> String {
    let id = esc(id);
    let attrs = format!(
        " data-run=\"{id}\" data-live=\"{}\" data-last-seq=\"{}\" data-status=\"connecting\"",
        t.live, t.last_seq
    );
    let mut h = head(&format!("selfharness · {id}"), &attrs);
    let _ = write!(
        h,
        r#"<header class="top">
<div class="title-row"><h1><a class="home" href="/">selfharness</a> <span class="sep">/</span> <code>{id}</code></h1><span id="status" class="badge connecting">connecting</span><span class="spacer"></span><a id="report-link" class="button" href="/runs/{id}/files/report.html" hidden>open report.html</a></div>
<div class="muted" id="subtitle">waiting for the run's first event</div>
<div class="cards">
<div class="card"><div class="label">generation</div><div class="big" id="generation">–</div><div class="sub" id="generation-detail"></div></div>
<div class="card"><div class="label">evaluations</div><div class="big" id="evaluations">0</div><div class="sub" id="evaluation-detail"></div></div>
<div class="card"><div class="label">validation pass rate</div><div class="big" id="pass-rate">–</div><div class="sub" id="pass-rate-detail">baseline → champion</div></div>
<div class="card wide"><div class="label">stage</div><div class="stage" id="stage">waiting for the first event</div></div>
</div>
<div class="progress" title="generations done"><div id="progress-bar"></div></div>
</header>
<main>
<div class="row">
<section class="panel chart-panel"><h2>Pass rate per generation</h2><svg id="chart" viewBox="0 0 640 270" role="img" aria-label="champion validation pass rate per generation"></svg><p class="muted small">Champion pass rate on the validation split after each generation (base = the baseline); on the right, baseline and final champion on the sealed test split, scored once the run stops.</p></section>
<section class="panel feed-panel"><h2>Events <span class="muted small" id="event-count"></span></h2><ol id="feed" reversed></ol></section>
</div>
<section class="panel"><h2>Lineage</h2><p class="muted small">Each generation's proposals, validated against the champion with a paired sign test: <span class="badge accepted">ACCEPT</span> or <span class="badge rejected">reject</span>, with p, b (pairs only the candidate passed) and c (pairs only the champion passed).</p><div id="lineage" class="lineage"><p class="muted">No generation yet.</p></div></section>
<section class="panel"><h2 id="weaknesses-title">Weaknesses</h2><table id="weaknesses"><thead><tr><th>weakness</th><th>kind</th><th>tool</th><th class="num">failures</th><th class="num">tasks</th></tr></thead><tbody><tr><td colspan="5" class="muted">Nothing mined yet.</td></tr></tbody></table></section>
</main>
<script>{LIVE_JS}</script>
</body></html>
"#
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Hub;

    #[test]
    fn the_run_page_has_its_elements_and_escapes_the_id() {
        let hub = Hub::new(None);
        hub.logged("r<1>", 1, &crate::hub::tests::started());
        let t = hub.tail("r<1>", u64::MAX).unwrap();
        let html = run_page("r<1>", &t);
        for id in ["chart", "lineage", "feed", "weaknesses", "status", "stage"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
        }
        assert!(html.contains("data-run=\"r&lt;1&gt;\" data-live=\"true\" data-last-seq=\"1\""));
        assert!(!html.contains("r<1>"));
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    }

    #[test]
    fn the_runs_list_links_each_run_and_its_report() {
        let hub = Hub::new(None);
        for (i, e) in crate::hub::tests::run_events().iter().enumerate() {
            hub.logged("done", i as u64 + 1, e);
        }
        hub.logged("going", 1, &crate::hub::tests::started());
        let html = runs_list(&hub.runs());
        assert!(html.contains("<a href=\"/runs/done\">done</a>"));
        assert!(html.contains("data-run=\"going\" data-status=\"running\""));
        assert!(html.contains("data-run=\"done\" data-status=\"finished\""));
        assert!(
            html.contains("http-equiv=\"refresh\""),
            "a running run refreshes the list"
        );
        assert!(html.contains("50.0 %"), "{html}");
    }
}
