//! `report.html`: one self-contained page (inline CSS, JS and SVG; a Content-Security-Policy
//! forbids loading anything else) showing the pass rate per generation, the lineage graph, the
//! proposals with their tests, the weaknesses with evidence links into the trace pages, the
//! ablation effects, the cost per generation, and the baseline-vs-final harness diff.
//! Rendered from [`RunData`] alone; every text from data goes through [`esc`].

use super::{diff, esc, rate, svg, Cost, Generation, RunData};
use crate::SplitScore;
use selfharness_core::patch::Edit;
use selfharness_core::task::Split;
use std::collections::BTreeSet;
use std::fmt::Write;

pub const CSS: &str = include_str!("style.css");
const JS: &str = include_str!("report.js");
/// Nothing but the page itself: inline styles and scripts, images only as data URLs.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/// The page; `pages` holds the evaluation keys whose trace page was written.
pub fn render(d: &RunData, pages: &BTreeSet<String>) -> String {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>selfharness run report</title><style>{CSS}</style></head><body>\n"
    );
    header(&mut h, d);
    h.push_str("<main>\n<nav class=\"toc\"><a href=\"#pass-rate\">pass rate</a><a href=\"#lineage\">lineage</a><a href=\"#proposals\">proposals</a><a href=\"#weaknesses\">weaknesses</a><a href=\"#ablation\">ablation</a><a href=\"#cost\">cost</a><a href=\"#diff\">harness diff</a></nav>\n");
    summary_cards(&mut h, d);
    let _ = writeln!(h, "<section id=\"pass-rate\"><h2>Pass rate</h2><figure id=\"pass-rate-chart\">{}<figcaption>Champion pass rate on the validation split after each generation, and baseline vs final champion on the sealed test split (evaluated once, after the run stopped). Whiskers: 95 % Wilson intervals.</figcaption></figure><p id=\"chart-readout\" class=\"muted\">Hover a point or bar for its numbers.</p></section>", svg::pass_rate_chart(d));
    let _ = writeln!(h, "<section id=\"lineage\"><h2>Lineage</h2><p class=\"muted\">Champions (blue, numbered by generation) and each generation's proposals: green accepted, red rejected; b = pairs only the candidate passed, c = pairs only the champion passed, p = one-sided sign test. Click a proposal for its row below.</p><div class=\"scroll\">{}</div></section>", svg::lineage(d));
    proposals(&mut h, d);
    weaknesses(&mut h, d, pages);
    ablation(&mut h, d);
    cost(&mut h, d);
    harness_diff(&mut h, d);
    let _ = writeln!(h, "</main>\n<footer class=\"muted\" style=\"padding:0 28px 20px\">Generated from <code>events.jsonl</code> by selfharness; regenerate with <code>selfharness report RUN</code>.</footer>\n<script>{JS}</script>\n</body></html>");
    h
}

fn pct(s: &SplitScore) -> String {
    format!("{:.1} % ({}/{})", 100.0 * rate(s), s.passed, s.total)
}

fn header(h: &mut String, d: &RunData) {
    let (status, class) = if d.is_finished() {
        ("finished", "finished")
    } else {
        ("incomplete", "incomplete")
    };
    let _ = write!(
        h,
        "<header class=\"top\"><h1>selfharness run report <span class=\"badge {class}\" id=\"status\">{status}</span></h1><div>model <code>{}</code>",
        esc(&d.model_id)
    );
    if let Some(c) = &d.config {
        let _ = write!(h, " · seed {} · up to {} generations × {} proposals · α = {} (per test {:.5}) · trials: train {}, validation {}, test {}", c.seed, c.generations, c.k, c.alpha, c.alpha_per_test(), c.train_trials, c.val_trials, c.test_trials);
    }
    h.push_str("</div>");
    if let Some(r) = &d.stopped {
        let _ = write!(h, "<div class=\"muted\">stopped: {}</div>", esc(r));
    }
    h.push_str("</header>\n");
}

fn summary_cards(h: &mut String, d: &RunData) {
    h.push_str("<div class=\"cards\" id=\"summary\">");
    let base = d.baseline_id();
    let fin = d.final_id();
    for (name, split) in [
        ("validation", Split::Validation),
        ("sealed test", Split::Test),
    ] {
        let b = match split {
            Split::Validation => d.validation_score(&base),
            _ => d.scored(&base, split).cloned(),
        };
        let f = match split {
            Split::Validation => d.validation_score(&fin),
            _ => d.scored(&fin, split).cloned(),
        };
        let show = |s: &Option<SplitScore>| s.as_ref().map_or("—".to_string(), pct);
        let delta = match (&b, &f) {
            (Some(b), Some(f)) => {
                let x = 100.0 * (rate(f) - rate(b));
                let dir = if x > 0.0 {
                    "up"
                } else if x < 0.0 {
                    "down"
                } else {
                    ""
                };
                format!("<span class=\"delta {dir}\">{x:+.1} pp</span>")
            }
            _ => String::new(),
        };
        let _ = write!(h, "<div class=\"card\" data-split=\"{name}\"><div class=\"muted\">{name} pass rate</div><div class=\"big\">{}</div><div>baseline {} → final {} {delta}</div></div>",
            f.as_ref().map_or("—".to_string(), |s| format!("{:.1} %", 100.0 * rate(s))), show(&b), show(&f));
    }
    let c = d.total_cost();
    let _ = writeln!(h, "<div class=\"card\"><div class=\"muted\">cost</div><div class=\"big\">{} evaluations</div><div>{} tokens · {:.1} s evaluation time</div></div></div>", c.evaluations, c.tokens, c.eval_ms as f64 / 1000.0);
}

/// An edit with its value, e.g. `append wrappers = {"kind":"timeout_guard"}`.
pub fn edit_text(e: &Edit) -> String {
    match &e.value {
        Some(v) => {
            let v = v.to_string();
            let v: String = if v.chars().count() > 160 {
                v.chars().take(157).chain("…".chars()).collect()
            } else {
                v
            };
            format!("{e} = {v}")
        }
        None => e.to_string(),
    }
}

fn proposals(h: &mut String, d: &RunData) {
    h.push_str("<section id=\"proposals\"><h2>Proposals</h2><table class=\"sortable\"><thead><tr><th class=\"num\">gen</th><th>proposal</th><th>edit</th><th>targets</th><th class=\"num\">b</th><th class=\"num\">c</th><th class=\"num\">p</th><th>pairs</th><th>decision</th><th class=\"num\">ablation</th></tr></thead><tbody>\n");
    for g in &d.generations {
        for p in &g.proposals {
            let dc = g.decisions.get(&p.id);
            let state = match dc {
                Some(x) if x.accepted => "accepted",
                Some(_) => "rejected",
                None => "pending",
            };
            let edits: Vec<String> = p.patch.edits.iter().map(|e| esc(&edit_text(e))).collect();
            let targets: Vec<String> = p
                .patch
                .targets
                .iter()
                .map(|t| format!("<a href=\"#w-{}-{}\">{}</a>", g.number, esc(t), esc(t)))
                .collect();
            let ab = d
                .ablations
                .iter()
                .find(|a| a.proposal == p.id)
                .map_or("—".into(), |a| format!("{:+.1} pp", a.effect * 100.0));
            let (b, c, pv, pairs, reason) = match dc {
                Some(x) => (
                    x.b.to_string(),
                    x.c.to_string(),
                    format!("{:.4}", x.p_value),
                    format!("{}/{}", x.pairs_evaluated, x.pairs_planned),
                    x.reason.clone(),
                ),
                None => (
                    "".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                    "not validated".into(),
                ),
            };
            let _ = writeln!(h, "<tr id=\"prop-{}\" class=\"{state}\"><td class=\"num\">{}</td><td class=\"id\"><code>{}</code><div class=\"muted\">{}</div></td><td><code>{}</code><div class=\"muted\">{}</div></td><td class=\"id\">{}</td><td class=\"num\">{b}</td><td class=\"num\">{c}</td><td class=\"num\">{pv}</td><td>{pairs}</td><td><span class=\"badge {state}\">{state}</span> <span class=\"muted\">{}</span></td><td class=\"num\">{ab}</td></tr>",
                esc(&p.id), g.number, esc(&p.id), esc(&p.strategy), edits.join("<br>"), esc(&p.patch.rationale), targets.join(" "), esc(&reason));
        }
    }
    h.push_str("</tbody></table>\n");
    for g in &d.generations {
        if let Some(c) = g.composed.as_ref().filter(|c| c.decision.is_some()) {
            let dc = c.decision.as_ref().expect("filtered");
            let _ = writeln!(
                h,
                "<p>Generation {}: composition of {} re-validated: b={} c={} p={:.4} — {}</p>",
                g.number,
                esc(&c.proposals.join(" + ")),
                dc.b,
                dc.c,
                dc.p_value,
                esc(&dc.reason)
            );
        }
        if !g.rejected_ideas.is_empty() {
            let why: Vec<String> = g.rejected_ideas.iter().map(|r| esc(&r.reason)).collect();
            let _ = writeln!(
                h,
                "<p class=\"muted\">Generation {}: {} ideas dropped before validation: {}</p>",
                g.number,
                why.len(),
                why.join("; ")
            );
        }
    }
    h.push_str("</section>\n");
}

fn weaknesses(h: &mut String, d: &RunData, pages: &BTreeSet<String>) {
    h.push_str("<section id=\"weaknesses\"><h2>Weaknesses</h2><p class=\"muted\">Mined from the champion's train traces each generation. Evidence links open the trace at the step.</p>\n");
    for g in &d.generations {
        let _ = writeln!(
            h,
            "<h3>Generation {} <span class=\"muted\">(champion <code>{}</code>)</span></h3>",
            g.number,
            esc(&g.champion)
        );
        if g.weaknesses.is_empty() {
            h.push_str("<p class=\"muted\">No failure cluster found.</p>\n");
            continue;
        }
        h.push_str("<table class=\"sortable weaknesses\"><thead><tr><th>id</th><th>weakness</th><th>kind</th><th>tool</th><th class=\"num\">failures</th><th class=\"num\">tasks</th><th class=\"num\">position</th><th>evidence</th></tr></thead><tbody>\n");
        for w in &g.weaknesses {
            let ev: Vec<String> = w
                .evidence
                .iter()
                .map(|e| {
                    let text = format!("{} #{}", e.task, e.step);
                    if pages.contains(&e.trace) {
                        format!("<a class=\"evidence\" href=\"traces/{}.html#step-{}\" title=\"{}\">{}</a>", esc(&e.trace), e.step, esc(&e.excerpt), esc(&text))
                    } else {
                        format!("<span class=\"evidence\" title=\"trace not in this run directory\">{}</span>", esc(&text))
                    }
                })
                .collect();
            let _ = writeln!(h, "<tr id=\"w-{}-{}\"><td class=\"id\"><code>{}</code></td><td>{}<div class=\"muted\"><code>{}</code></div></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td><td>{}</td></tr>",
                g.number, esc(&w.id), esc(&w.id), esc(&w.name), esc(&w.error), esc(&w.kind), esc(&w.tool), w.failures, w.tasks, w.position, ev.join(", "));
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</section>\n");
}

fn ablation(h: &mut String, d: &RunData) {
    h.push_str("<section id=\"ablation\"><h2>Measured effect of each edit</h2>");
    if d.ablations.is_empty() {
        h.push_str("<p class=\"muted\">No ablation: no edit was accepted, the run has not finished, or it ran with --no-ablation.</p></section>\n");
        return;
    }
    h.push_str("<p class=\"muted\">Validation pass rate of the final champion minus the final champion without that edit.</p>");
    h.push_str(&svg::ablation_bars(d));
    h.push_str("<table><thead><tr><th>proposal</th><th>edit</th><th class=\"num\">effect</th><th>champion without it</th></tr></thead><tbody>\n");
    for a in &d.ablations {
        let edits = d.proposal(&a.proposal).map_or(String::new(), |p| {
            let e: Vec<String> = p.patch.edits.iter().map(|e| esc(&edit_text(e))).collect();
            e.join("<br>")
        });
        let _ = writeln!(h, "<tr><td><a href=\"#prop-{}\"><code>{}</code></a></td><td><code>{edits}</code></td><td class=\"num\">{:+.1} pp</td><td><code>{}</code></td></tr>", esc(&a.proposal), esc(&a.proposal), a.effect * 100.0, esc(&a.without));
    }
    h.push_str("</tbody></table></section>\n");
}

fn cost(h: &mut String, d: &RunData) {
    let price = d.config.as_ref().map_or(0.0, |c| c.price_per_mtok);
    h.push_str("<section id=\"cost\"><h2>Cost and time</h2><table><thead><tr><th>generation</th><th class=\"num\">evaluations</th><th class=\"num\">tokens</th><th class=\"num\">evaluation time</th><th class=\"num\">validation pairs run / planned</th>");
    if price > 0.0 {
        h.push_str("<th class=\"num\">dollars</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    let row = |h: &mut String, label: &str, c: Cost, pairs: String| {
        let _ = write!(h, "<tr><td>{label}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1} s</td><td class=\"num\">{pairs}</td>", c.evaluations, c.tokens, c.eval_ms as f64 / 1000.0);
        if price > 0.0 {
            let _ = write!(
                h,
                "<td class=\"num\">${:.2}</td>",
                c.tokens as f64 / 1e6 * price
            );
        }
        h.push_str("</tr>\n");
    };
    let pairs = |g: &Generation| {
        let (r, p) = g.decisions.values().fold((0, 0), |(r, p), x| {
            (r + x.pairs_evaluated, p + x.pairs_planned)
        });
        format!("{r} / {p}")
    };
    for g in &d.generations {
        row(h, &g.number.to_string(), g.cost, pairs(g));
    }
    row(
        h,
        "final scoring and ablation",
        d.closing_cost,
        String::new(),
    );
    row(h, "<b>total</b>", d.total_cost(), String::new());
    h.push_str("</tbody></table><p class=\"muted\">Evaluation time sums each evaluation's wall time; evaluations run in parallel, so the run took less. Evaluations served from the cache are not counted again.</p></section>\n");
}

fn harness_diff(h: &mut String, d: &RunData) {
    h.push_str("<section id=\"diff\"><h2>Baseline vs final harness</h2>");
    match (&d.baseline, d.final_harness()) {
        (Some(b), Some(f)) => {
            let rows = diff::side_by_side(&b.to_toml(), &f.to_toml());
            if b.id() == f.id() {
                h.push_str("<p class=\"muted\">No edit was accepted: the final champion is the baseline.</p>");
            }
            h.push_str(&diff::html_table(
                "diff-table",
                &format!("baseline {}", b.id()),
                &format!("final {}", f.id()),
                &rows,
            ));
        }
        _ => h.push_str("<p class=\"muted\">The log holds no baseline.</p>"),
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    fn page() -> String {
        render(&fixture::data(), &BTreeSet::from(["e-1".to_string()]))
    }

    #[test]
    fn data_is_escaped_everywhere() {
        let h = page();
        assert!(!h.contains(fixture::NASTY), "raw data leaked into the page");
        assert!(h.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"));
        // The only scripts are the page's own.
        assert_eq!(h.matches("<script>").count(), 1);
    }

    #[test]
    fn the_page_has_its_stable_ids_and_no_external_asset() {
        let h = page();
        for id in [
            "pass-rate-chart",
            "lineage",
            "proposals",
            "weaknesses",
            "ablation",
            "cost",
            "diff",
            "summary",
            "status",
        ] {
            assert!(h.contains(&format!("id=\"{id}\"")), "no #{id}");
        }
        for bad in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(!h.contains(bad), "external reference {bad}");
        }
    }

    #[test]
    fn evidence_links_into_the_trace_page_at_the_step() {
        let h = page();
        assert!(
            h.contains("href=\"traces/e-1.html#step-2\""),
            "no evidence link"
        );
        let without = render(&fixture::data(), &BTreeSet::new());
        assert!(
            !without.contains("traces/e-1.html"),
            "a link to a page that was not written"
        );
    }

    #[test]
    fn every_decided_proposal_has_a_row_with_its_decision() {
        let d = fixture::data();
        let h = page();
        for g in &d.generations {
            for (id, dc) in &g.decisions {
                let state = if dc.accepted { "accepted" } else { "rejected" };
                assert!(
                    h.contains(&format!("<tr id=\"prop-{id}\" class=\"{state}\">")),
                    "{id}"
                );
            }
        }
        assert!(h.contains("+18.8 pp"), "ablation effect shown");
    }

    #[test]
    fn the_diff_shows_the_changed_limit() {
        let h = page();
        assert!(h.contains("max_turns = 40") && h.contains("max_turns = 20"));
        assert!(h.contains("class=\"changed\""));
    }
}
