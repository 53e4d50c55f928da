//! The readable page of one trace, `traces/<key>.html`, for every trace the report cites: each
//! turn's tool call and arguments, its observation (long ones shortened to head and tail, the
//! full text one click away), the harness's `<harness …>` feedback lines, wrapper verdicts,
//! check results, errors and retries highlighted, then the end reason, reward and verifier
//! output. Self-contained like `report.html`.
//!
//! Reads only `traces/<file>` of the run directory, with file names checked by [`safe_name`];
//! writes only `traces/<key>.html`.

use super::{esc, html, safe_name, RunData};
use selfharness_core::trace::{Step, Trace};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::Path;

const JS: &str = include_str!("trace.js");
/// Observations up to this many lines and bytes are shown whole.
const WHOLE_LINES: usize = 40;
const WHOLE_BYTES: usize = 4000;
/// Otherwise: this many first and last lines (plus every `<harness …>` line).
const HEAD: usize = 12;
const TAIL: usize = 8;
/// A shown line longer than this is cut.
const LINE_CHARS: usize = 400;

/// One citation of a trace: (generation, weakness id, step).
pub type Cite = (u32, String, u32);

/// Write the page of every cited trace whose file is readable; returns their evaluation keys.
pub fn write_all(dir: &Path, d: &RunData) -> std::io::Result<BTreeSet<String>> {
    let mut written = BTreeSet::new();
    for (key, cites) in d.cited_traces() {
        let file = d.trace_file(&key);
        if !safe_name(&key) || !safe_name(&file) {
            tracing::warn!(trace = %key, "not a plain file name; no trace page");
            continue;
        }
        let traces = dir.join("traces");
        match Trace::load(&traces.join(&file)) {
            Ok(t) => {
                std::fs::write(traces.join(format!("{key}.html")), render(&t, &cites))?;
                written.insert(key);
            }
            Err(e) => tracing::warn!(trace = %key, error = %e, "trace not readable; no trace page"),
        }
    }
    Ok(written)
}

pub fn render(t: &Trace, cites: &[Cite]) -> String {
    let (status, class) = match t.reward {
        Some(r) if r >= 1.0 - 1e-9 => ("passed", "passed"),
        Some(_) => ("failed", "failed"),
        None => ("error", "failed"),
    };
    let css = html::CSS;
    let csp = html::CSP;
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>trace {} · {}</title><style>{css}</style></head><body>\n<header class=\"top\"><h1>Trace <code>{}</code> <span class=\"badge {class}\" id=\"outcome\">{status}</span></h1>",
        esc(&t.id), esc(&t.task_id), esc(&t.id)
    );
    let tokens = t.usage.prompt_tokens + t.usage.completion_tokens;
    let _ = write!(h, "<div>task <b>{}</b> · trial {} · seed {} · harness <code>{}</code> · model <code>{}</code></div>", esc(&t.task_id), t.trial, t.seed, esc(&t.harness_id), esc(&t.model_id));
    let reward = t
        .reward
        .map_or("none (infrastructure error)".into(), |r| format!("{r}"));
    let _ = write!(
        h,
        "<div id=\"end\">end <b>{}</b>{} · reward {} · {} turns · {} tokens · {:.1} s</div>",
        t.end.as_str(),
        if t.end_detail.is_empty() {
            String::new()
        } else {
            format!(" — {}", esc(&t.end_detail))
        },
        esc(&reward),
        t.steps.len(),
        tokens,
        t.wall_ms as f64 / 1000.0
    );
    h.push_str("<div><a href=\"../report.html#weaknesses\">← back to the report</a>");
    for (g, w, s) in cites {
        let _ = write!(h, " · evidence of <a href=\"../report.html#w-{g}-{}\"><code>{}</code></a> (generation {g}) at <a href=\"#step-{s}\">step {s}</a>", esc(w), esc(w));
    }
    h.push_str("</div></header>\n<main><p><button id=\"toggle-all\" type=\"button\">expand all observations</button></p><section id=\"steps\">\n");
    let cited: BTreeSet<u32> = cites.iter().map(|c| c.2).collect();
    for s in &t.steps {
        step(&mut h, s, cited.contains(&s.turn));
    }
    // A cited step the trace has no turn for (an episode that ended before its first call).
    for n in cited
        .iter()
        .filter(|n| !t.steps.iter().any(|s| s.turn == **n))
    {
        let _ = writeln!(h, "<div class=\"step evidence\" id=\"step-{n}\"><h3>Step {n}</h3><p class=\"muted\">Cited by the miner; the trace has no such turn: see the end reason above.</p></div>");
    }
    let _ = writeln!(h, "</section><section id=\"verifier\"><h2>Verifier</h2><p>reward {}</p>{}</section></main>\n<script>{JS}</script>\n</body></html>", esc(&reward), observation(&t.verifier_output, t.verifier_output.len()));
    h
}

fn step(h: &mut String, s: &Step, cited: bool) {
    let _ = write!(
        h,
        "<div class=\"step{}\" id=\"step-{}\"><h3>Turn {} · <code>{}</code> <span class=\"meta\">",
        if cited { " evidence" } else { "" },
        s.turn,
        s.turn,
        esc(s.tool.as_deref().unwrap_or("no tool call"))
    );
    let mut meta = Vec::new();
    if let Some(c) = s.exit_code {
        meta.push(format!("exit {c}"));
    }
    if s.timed_out {
        meta.push("timed out".into());
    }
    meta.push(format!(
        "{} + {} tokens",
        s.usage.prompt_tokens, s.usage.completion_tokens
    ));
    meta.push(format!("model {} ms, tool {} ms", s.model_ms, s.tool_ms));
    let _ = write!(h, "{}</span></h3>", esc(&meta.join(" · ")));
    for v in &s.verdicts {
        let _ = write!(
            h,
            "<span class=\"flag verdict\">{} {}: {}</span>",
            esc(&v.wrapper),
            esc(&v.outcome),
            esc(&v.message)
        );
    }
    for c in &s.checks {
        let (class, word) = if c.passed {
            ("check-pass", "passed")
        } else {
            ("check-fail", "failed")
        };
        let _ = write!(
            h,
            "<span class=\"flag {class}\">check {} {word}: {}</span>",
            esc(&c.kind),
            esc(&c.message)
        );
    }
    if let Some(e) = &s.error {
        let _ = write!(h, "<span class=\"flag error\">error: {}</span>", esc(e));
    }
    if let Some(r) = &s.retry {
        let _ = write!(h, "<span class=\"flag retry\">retry: {}</span>", esc(r));
    }
    if let Some(a) = &s.arguments {
        let _ = write!(
            h,
            "<pre class=\"args\" title=\"tool-call arguments\">{}</pre>",
            esc(&arguments(a))
        );
    }
    h.push_str(&observation(&s.observation, s.observation_bytes));
    h.push_str("</div>\n");
}

/// Tool arguments for reading: the path first, `$ command` for bash, the other keys one per
/// line, file content last; text that is not a JSON object as written.
pub fn arguments(raw: &str) -> String {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(raw) else {
        return cut(raw, 4000);
    };
    let rank = |k: &str| match k {
        "path" => 0,
        "command" => 1,
        "content" => 3,
        _ => 2,
    };
    let mut fields: Vec<_> = m.iter().collect();
    fields.sort_by_key(|(k, _)| rank(k));
    let mut out = String::new();
    for (k, v) in fields {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match k.as_str() {
            "command" => out.push_str(&format!("$ {}\n", cut(&v, 4000))),
            "content" => out.push_str(&format!("content:\n{}\n", cut(&v, 4000))),
            _ => out.push_str(&format!("{k}: {}\n", cut(&v, 1000))),
        }
    }
    out.trim_end().to_string()
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}… ({} more bytes)", &s[..i], s.len() - i),
        None => s.to_string(),
    }
}

fn line_html(line: &str) -> String {
    let shown = esc(&cut(line, LINE_CHARS));
    if line.trim_start().starts_with("<harness") {
        format!("<span class=\"harness-line\">{shown}</span>")
    } else {
        shown
    }
}

/// An observation: whole when short; else head, tail and every `<harness …>` line, with the
/// full text in a collapsed `details`. `bytes` is the size before the trace capped it.
pub fn observation(text: &str, bytes: usize) -> String {
    if text.is_empty() {
        return "<pre class=\"obs empty\">(no output)</pre>".into();
    }
    let lines: Vec<&str> = text.lines().collect();
    let whole = lines.len() <= WHOLE_LINES && text.len() <= WHOLE_BYTES;
    let capped = if bytes > text.len() {
        format!(" (the trace kept {} of {bytes} bytes)", text.len())
    } else {
        String::new()
    };
    if whole && lines.iter().all(|l| l.chars().count() <= LINE_CHARS) {
        let body: Vec<String> = lines.iter().map(|l| line_html(l)).collect();
        return format!(
            "<pre class=\"obs\">{}</pre>{}",
            body.join("\n"),
            if capped.is_empty() {
                String::new()
            } else {
                format!("<div class=\"muted\">{}</div>", esc(capped.trim()))
            }
        );
    }
    let keep = |i: usize, l: &str| {
        i < HEAD || i + TAIL >= lines.len() || l.trim_start().starts_with("<harness")
    };
    let mut preview = Vec::new();
    let mut hidden = 0;
    for (i, l) in lines.iter().enumerate() {
        if keep(i, l) {
            if hidden > 0 {
                preview.push(format!(
                    "<span class=\"hidden-lines\">… {hidden} lines …</span>"
                ));
                hidden = 0;
            }
            preview.push(line_html(l));
        } else {
            hidden += 1;
        }
    }
    let full: String = esc(text);
    format!(
        "<pre class=\"obs\">{}</pre><details class=\"full\"><summary>full observation: {} lines, {} bytes{}</summary><pre class=\"obs\">{full}</pre></details>",
        preview.join("\n"),
        lines.len(),
        text.len(),
        esc(&capped)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use selfharness_core::trace::{CheckResult, EndReason, Verdict};

    fn trace() -> Trace {
        let long: String = (0..200).map(|i| format!("line {i}\n")).collect::<String>()
            + "<harness verdict=\"fail_on_nonzero_exit\">the command failed</harness>\n";
        Trace {
            id: "e-1".into(),
            task_id: "task-<a>".into(),
            harness_id: "h-1".into(),
            model_id: "m".into(),
            trial: 0,
            seed: 1,
            steps: vec![
                Step {
                    turn: 1,
                    tool: Some("bash".into()),
                    arguments: Some(r#"{"command":"cat </app/x> && false"}"#.into()),
                    observation: long,
                    observation_bytes: 9000,
                    exit_code: Some(1),
                    verdicts: vec![Verdict {
                        wrapper: "fail_on_nonzero_exit".into(),
                        outcome: "fail".into(),
                        message: "exit 1".into(),
                    }],
                    ..Step::default()
                },
                Step {
                    turn: 2,
                    tool: Some("done".into()),
                    checks: vec![CheckResult {
                        kind: "paths_exist".into(),
                        passed: false,
                        message: "/app/out missing".into(),
                    }],
                    retry: Some("malformed_reply".into()),
                    error: Some("bad json".into()),
                    ..Step::default()
                },
            ],
            end: EndReason::MaxTurns,
            end_detail: "40 turns".into(),
            reward: Some(0.0),
            verifier_output: "FAIL: <expected>".into(),
            usage: Default::default(),
            wall_ms: 1200,
        }
    }

    #[test]
    fn a_page_shows_turns_arguments_feedback_and_the_end() {
        let h = render(&trace(), &[(1, "w-1".into(), 2)]);
        assert!(h.contains("id=\"step-1\"") && h.contains("class=\"step evidence\" id=\"step-2\""));
        assert!(
            h.contains("$ cat &lt;/app/x&gt; &amp;&amp; false"),
            "arguments escaped"
        );
        assert!(
            h.contains("<span class=\"harness-line\">&lt;harness verdict="),
            "harness line highlighted"
        );
        assert!(
            h.contains("flag check-fail")
                && h.contains("flag retry")
                && h.contains("flag error")
                && h.contains("flag verdict")
        );
        assert!(h.contains("end <b>max_turns</b>") && h.contains("reward 0"));
        assert!(h.contains("task-&lt;a&gt;") && !h.contains("task-<a>"));
        assert!(h.contains("href=\"../report.html#w-1-w-1\""));
    }

    #[test]
    fn a_long_observation_keeps_head_tail_and_harness_lines_and_hides_the_middle() {
        let t = trace();
        let o = observation(&t.steps[0].observation, 9000);
        let preview = &o[..o.find("<details").unwrap()];
        assert!(preview.contains("line 0") && preview.contains("line 199"));
        assert!(!preview.contains("line 100\n"), "the middle is folded");
        assert!(preview.contains("lines …"));
        assert!(preview.contains("harness-line"));
        assert!(o.contains("the trace kept"), "the cap is said");
        assert!(
            o[o.find("<details").unwrap()..].contains("line 100\n"),
            "the full text is one click away"
        );
    }

    #[test]
    fn a_short_observation_is_shown_whole() {
        let o = observation("a\nb\n", 4);
        assert_eq!(o, "<pre class=\"obs\">a\nb</pre>");
    }

    #[test]
    fn non_json_arguments_are_shown_as_written() {
        assert_eq!(arguments("{\"command\": \"ls"), "{\"command\": \"ls");
        assert_eq!(
            arguments(r#"{"path":"/app/a","content":"x"}"#),
            "path: /app/a\ncontent:\nx"
        );
    }
}
