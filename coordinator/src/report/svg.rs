//! Hand-written SVG for `report.html`: the pass-rate chart (validation per generation with 95 %
//! intervals, baseline vs final on the sealed test split), the lineage graph (champions,
//! accepted and rejected proposals with b / c and p) and the ablation bars. Pure functions of
//! [`RunData`]; every text from data is escaped. Elements carry classes and `data-*`
//! attributes that the page's script and the browser test rely on.

use super::{esc, rate, RunData};
use crate::SplitScore;
use selfharness_core::stats::{wilson, Z95};
use selfharness_core::task::Split;
use std::fmt::Write;

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn label(s: &SplitScore) -> String {
    format!("{} ({}/{})", pct(rate(s)), s.passed, s.total)
}

/// Chart geometry: the plot area inside the margins.
const W: f64 = 720.0;
const H: f64 = 300.0;
const LEFT: f64 = 52.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 44.0;

fn y_of(rate: f64) -> f64 {
    TOP + (H - TOP - BOTTOM) * (1.0 - rate)
}

/// A vertical 95 % interval with caps, and its point or bar.
fn interval(svg: &mut String, x: f64, s: &SplitScore, class: &str) {
    let (lo, hi) = wilson(u64::from(s.passed), u64::from(s.total), Z95);
    let _ = write!(
        svg,
        "<path class=\"ci {class}\" d=\"M{x:.1} {:.1}V{:.1}M{:.1} {:.1}h8M{:.1} {:.1}h8\"/>",
        y_of(lo),
        y_of(hi),
        x - 4.0,
        y_of(lo),
        x - 4.0,
        y_of(hi)
    );
}

/// The pass-rate chart: champion validation pass rate after each generation (0 = baseline)
/// as a line with intervals; to the right, baseline and final on the sealed test split.
pub fn pass_rate_chart(d: &RunData) -> String {
    let curve = d.validation_curve();
    let test = [
        ("baseline", d.scored(&d.baseline_id(), Split::Test)),
        ("final", d.scored(&d.final_id(), Split::Test)),
    ];
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"chart-title\" xmlns=\"http://www.w3.org/2000/svg\"><title id=\"chart-title\">Pass rate per generation</title>"
    );
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>",
            W - 10.0,
            LEFT - 6.0,
            y_of(t) + 4.0,
            t * 100.0,
            y = y_of(t)
        );
    }
    // Validation: x spreads over the left three quarters.
    let val_right = LEFT + (W - LEFT - 10.0) * 0.72;
    let n = curve.len().max(2) - 1;
    let x_of = |i: usize| LEFT + 24.0 + (val_right - LEFT - 48.0) * i as f64 / n as f64;
    let mut path = String::new();
    for (i, (g, s)) in curve.iter().enumerate() {
        let x = x_of(i);
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            H - BOTTOM + 16.0,
            if *g == 0 {
                "base".to_string()
            } else {
                format!("g{g}")
            }
        );
        let Some(s) = s else { continue };
        let _ = write!(
            path,
            "{}{x:.1} {:.1}",
            if path.is_empty() { "M" } else { "L" },
            y_of(rate(s))
        );
        interval(&mut svg, x, s, "val");
    }
    let _ = write!(svg, "<path class=\"line val\" d=\"{path}\"/>");
    for (i, (g, s)) in curve.iter().enumerate() {
        let Some(s) = s else { continue };
        let text = format!("generation {g}: validation {}", label(s));
        let _ = write!(
            svg,
            "<circle class=\"pt val\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" data-label=\"{}\"><title>{}</title></circle>",
            x_of(i),
            y_of(rate(s)),
            esc(&text),
            esc(&text)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"axis title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">validation (champion after generation)</text>",
        (LEFT + val_right) / 2.0,
        H - 8.0
    );
    // Sealed test split: two bars.
    let _ = write!(
        svg,
        "<line class=\"sep\" x1=\"{val_right:.1}\" x2=\"{val_right:.1}\" y1=\"{TOP}\" y2=\"{:.1}\"/>",
        H - BOTTOM
    );
    let bar_w = 36.0;
    for (i, (who, s)) in test.iter().enumerate() {
        let x = val_right + 40.0 + i as f64 * 70.0;
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{who}</text>",
            x + bar_w / 2.0,
            H - BOTTOM + 16.0
        );
        let Some(s) = s else { continue };
        let text = format!("{who} on the sealed test split: {}", label(s));
        let _ = write!(
            svg,
            "<rect class=\"bar test {who}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar_w}\" height=\"{:.1}\" data-label=\"{}\"><title>{}</title></rect>",
            y_of(rate(s)),
            (H - BOTTOM - y_of(rate(s))).max(0.5),
            esc(&text),
            esc(&text)
        );
        interval(&mut svg, x + bar_w / 2.0, s, "test");
    }
    let _ = write!(
        svg,
        "<text class=\"axis title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">sealed test split</text></svg>",
        val_right + 40.0 + 53.0,
        H - 8.0
    );
    svg
}

const COL: f64 = 190.0;
const ROW: f64 = 58.0;
const BOX_W: f64 = 160.0;
const BOX_H: f64 = 44.0;

fn short(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}

/// The lineage: champion nodes (columns 0, 2, 4, …) and each generation's proposals between
/// them (columns 1, 3, …); accepted edges lead into the next champion.
pub fn lineage(d: &RunData) -> String {
    let rows = d
        .generations
        .iter()
        .map(|g| g.proposals.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let height = rows as f64 * ROW + 90.0;
    let width = (2 * d.generations.len() + 1) as f64 * COL;
    let mid = 30.0 + rows as f64 * ROW / 2.0;
    let cx = |col: usize| COL * col as f64 + COL / 2.0;
    let mut edges = String::new();
    let mut nodes = String::new();
    let champion_node = |nodes: &mut String,
                         col: usize,
                         number: u32,
                         id: &str,
                         score: Option<SplitScore>| {
        let score = score.map(|s| label(&s)).unwrap_or_else(|| "—".into());
        let title = format!("generation {number} champion {id}; validation {score}");
        let _ = write!(
            nodes,
            "<g class=\"node champion\" data-harness=\"{}\"><title>{}</title><circle cx=\"{:.1}\" cy=\"{mid:.1}\" r=\"20\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"gen\">{number}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"muted\">{}</text></g>",
            esc(id), esc(&title), cx(col), cx(col), mid + 5.0, cx(col), mid + 36.0, esc(short(id)), cx(col), mid + 50.0, esc(&score)
        );
    };
    champion_node(
        &mut nodes,
        0,
        0,
        &d.baseline_id(),
        d.validation_score(&d.baseline_id()),
    );
    for (gi, g) in d.generations.iter().enumerate() {
        let (from, to, pcol) = (cx(2 * gi), cx(2 * gi + 2), 2 * gi + 1);
        let top = mid - g.proposals.len() as f64 * ROW / 2.0;
        for (pi, p) in g.proposals.iter().enumerate() {
            let y = top + pi as f64 * ROW + (ROW - BOX_H) / 2.0;
            let (x, yc) = (cx(pcol) - BOX_W / 2.0, y + BOX_H / 2.0);
            let decision = g.decisions.get(&p.id);
            let used = g.advanced.as_ref().is_some_and(|a| a.1.contains(&p.id));
            let state = match decision {
                Some(dc) if dc.accepted => "accepted",
                Some(_) => "rejected",
                None => "pending",
            };
            let _ = write!(edges, "<path class=\"edge\" d=\"M{:.1} {mid:.1}C{:.1} {mid:.1} {:.1} {yc:.1} {x:.1} {yc:.1}\"/>", from + 20.0, from + 60.0, x - 40.0);
            if used {
                let _ = write!(edges, "<path class=\"edge accepted\" d=\"M{:.1} {yc:.1}C{:.1} {yc:.1} {:.1} {mid:.1} {:.1} {mid:.1}\"/>", x + BOX_W, x + BOX_W + 40.0, to - 60.0, to - 20.0);
            }
            let (line1, line2) = match decision {
                Some(dc) => (
                    format!("{} {}", if dc.accepted { "✓" } else { "✗" }, short(&p.id)),
                    format!("b={} c={} p={:.4}", dc.b, dc.c, dc.p_value),
                ),
                None => (format!("· {}", short(&p.id)), "not validated".to_string()),
            };
            let edits: Vec<String> = p.patch.edits.iter().map(|e| e.to_string()).collect();
            let title = format!(
                "{} ({state}): {} — {}{}",
                p.id,
                edits.join("; "),
                p.patch.rationale,
                decision
                    .map(|dc| format!(" — {}", dc.reason))
                    .unwrap_or_default()
            );
            let _ = write!(
                nodes,
                "<g class=\"node proposal {state}\" data-proposal=\"{}\" data-generation=\"{}\" tabindex=\"0\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" class=\"stat\">{}</text></g>",
                esc(&p.id), g.number, esc(&title), x + 10.0, y + 18.0, esc(&line1), x + 10.0, y + 35.0, esc(&line2)
            );
        }
        let next = match &g.advanced {
            Some((h, _, s)) => Some((h.id(), Some(s.clone()))),
            None if g.no_advance => {
                // Below every proposal: the champion carried over unchanged.
                let low = height - 14.0;
                let _ = write!(
                    edges,
                    "<path class=\"edge same\" d=\"M{from:.1} {:.1}C{from:.1} {low:.1} {from:.1} {low:.1} {:.1} {low:.1}H{:.1}C{to:.1} {low:.1} {to:.1} {low:.1} {to:.1} {:.1}\"/><text class=\"kept\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no edit accepted: champion kept</text>",
                    mid + 56.0,
                    from + 40.0,
                    to - 40.0,
                    mid + 56.0,
                    (from + to) / 2.0,
                    low - 4.0
                );
                let prev = d.validation_curve().get(gi).and_then(|c| c.1.clone());
                Some((g.champion.clone(), prev))
            }
            None => None,
        };
        if let Some((id, score)) = next {
            champion_node(&mut nodes, 2 * gi + 2, g.number, &id, score);
        }
    }
    format!("<svg class=\"lineage\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"lineage of champions and proposals\" xmlns=\"http://www.w3.org/2000/svg\">{edges}{nodes}</svg>")
}

/// Horizontal bars of each accepted edit's ablation effect (percent points), zero in the middle.
pub fn ablation_bars(d: &RunData) -> String {
    let max = d
        .ablations
        .iter()
        .map(|a| a.effect.abs())
        .fold(0.05, f64::max);
    let (w, row, left) = (720.0, 28.0, 200.0);
    // Room on both sides of the bars for their labels.
    let zero = left + (w - left) / 2.0;
    let scale = ((w - left) / 2.0 - 70.0) / max;
    let h = d.ablations.len() as f64 * row + 10.0;
    let mut svg = format!("<svg class=\"ablation\" viewBox=\"0 0 {w} {h:.0}\" xmlns=\"http://www.w3.org/2000/svg\"><line class=\"grid\" x1=\"{zero:.1}\" x2=\"{zero:.1}\" y1=\"0\" y2=\"{h:.0}\"/>");
    for (i, a) in d.ablations.iter().enumerate() {
        let y = 5.0 + i as f64 * row;
        let len = a.effect * scale;
        let x = if len < 0.0 { zero + len } else { zero };
        let class = if a.effect >= 0.0 { "pos" } else { "neg" };
        let text = format!("{:+.1} pp", a.effect * 100.0);
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect class=\"bar {class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{} {}</title></rect><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left - 10.0, y + 15.0, esc(&a.proposal), len.abs().max(1.0), row - 8.0, esc(&a.proposal), esc(&text),
            if len < 0.0 { zero + 6.0 } else { zero + len + 6.0 }, y + 15.0, esc(&text)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn every_decided_proposal_is_a_node_of_the_lineage_with_its_numbers() {
        let d = fixture::data();
        let svg = lineage(&d);
        let mut decided = 0;
        for g in &d.generations {
            for (id, dc) in &g.decisions {
                decided += 1;
                let state = if dc.accepted { "accepted" } else { "rejected" };
                assert!(
                    svg.contains(&format!(
                        "class=\"node proposal {state}\" data-proposal=\"{id}\""
                    )),
                    "{id} is not a {state} node"
                );
                assert!(svg.contains(&format!("b={} c={} p={:.4}", dc.b, dc.c, dc.p_value)));
            }
        }
        assert_eq!(svg.matches("class=\"node proposal").count(), decided);
        // Baseline, the gen-1 champion, and gen 2 keeping it.
        assert_eq!(svg.matches("class=\"node champion\"").count(), 3);
        assert_eq!(svg.matches("class=\"edge accepted\"").count(), 1);
        assert!(!svg.contains("<script>"), "titles are escaped");
    }

    #[test]
    fn the_chart_has_a_point_per_generation_and_both_test_bars() {
        let d = fixture::data();
        let svg = pass_rate_chart(&d);
        assert_eq!(svg.matches("class=\"pt val\"").count(), 3, "{svg}");
        assert!(
            svg.contains("class=\"bar test baseline\"") && svg.contains("class=\"bar test final\"")
        );
        assert!(svg.contains("generation 1: validation 40.6% (13/32)"));
        assert!(svg.contains("final on the sealed test split: 31.2% (5/16)"));
    }

    #[test]
    fn ablation_bars_show_each_effect() {
        let svg = ablation_bars(&fixture::data());
        assert!(svg.contains("+18.8 pp") && svg.contains("class=\"bar pos\""));
    }
}
