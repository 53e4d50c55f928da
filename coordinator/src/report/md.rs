//! `report.md`: baseline vs final on validation and the sealed test split, the lineage with
//! each edit's validated and ablated effect, the weaknesses found, and the cost per generation.
//! Rendered from [`RunData`] alone; it reads nothing.

use super::{rate, Cost, RunData};
use selfharness_core::stats::{wilson, Z95};
use selfharness_core::task::Split;
use std::fmt::Write;

pub fn render(d: &RunData) -> String {
    let mut md = String::from("# selfharness run report\n\n");
    if let Some(c) = &d.config {
        let _ = writeln!(md, "Model `{}`, seed {}, up to {} generations × {} proposals, α = {} (per test {:.5}), trials: train {}, validation {}, test {}.\n",
            d.model_id, c.seed, c.generations, c.k, c.alpha, c.alpha_per_test(), c.train_trials, c.val_trials, c.test_trials);
    }
    if !d.is_finished() {
        md.push_str(
            "**The run has not finished**: this report shows what its log holds so far.\n\n",
        );
    }
    md.push_str("## Result\n\n| harness | split | pass rate | 95 % CI |\n|---|---|---|---|\n");
    let baseline = d.baseline_id();
    for s in &d.scores {
        let (lo, hi) = wilson(u64::from(s.passed), u64::from(s.total), Z95);
        let who = if s.harness_id == baseline {
            "baseline"
        } else {
            "final"
        };
        let _ = writeln!(
            md,
            "| {who} `{}` | {} | {:.1} % ({}/{}) | [{:.1} %, {:.1} %] |",
            s.harness_id,
            s.split,
            100.0 * rate(s),
            s.passed,
            s.total,
            lo * 100.0,
            hi * 100.0
        );
    }
    if d.scores.iter().any(|s| s.split == Split::Test) {
        md.push_str("\nThe test split was sealed: evaluated only after the run ended, for the baseline and the final champion.\n");
    }
    md.push_str("\n## Lineage\n\n");
    for g in &d.generations {
        lineage_generation(&mut md, d, g);
    }
    cost(&mut md, d);
    md.push_str(
        "\nThe same report with charts, the lineage graph and the traces: `report.html`.\n",
    );
    md
}

fn lineage_generation(md: &mut String, d: &RunData, g: &super::Generation) {
    let _ = writeln!(md, "### Generation {}\n\nWeaknesses (train traces of the champion):\n\n| id | weakness | failures | tasks | evidence |\n|---|---|---|---|---|", g.number);
    for w in g.weaknesses.iter().take(8) {
        let ev: Vec<String> = w
            .evidence
            .iter()
            .take(3)
            .map(|e| format!("`traces/{}.json` step {}", e.trace, e.step))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} (`{}`) | {} | {} | {} |",
            w.id,
            w.name,
            w.kind,
            w.failures,
            w.tasks,
            ev.join(", ")
        );
    }
    md.push_str("\nProposals:\n\n| proposal | edit | targets | b / c | p | decision | evaluated | ablation effect |\n|---|---|---|---|---|---|---|---|\n");
    for p in &g.proposals {
        let Some(decision) = g.decisions.get(&p.id) else {
            continue;
        };
        let edits: Vec<String> = p.patch.edits.iter().map(|e| e.to_string()).collect();
        let ab = d
            .ablations
            .iter()
            .find(|a| a.proposal == p.id)
            .map_or("—".to_string(), |a| {
                format!("{:+.1} pp", a.effect * 100.0)
            });
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} / {} | {:.4} | {} | {}/{} | {} |",
            p.id,
            edits.join("; "),
            p.patch.targets.join(", "),
            decision.b,
            decision.c,
            decision.p_value,
            if decision.accepted {
                "**accepted**"
            } else {
                "rejected"
            },
            decision.pairs_evaluated,
            decision.pairs_planned,
            ab
        );
    }
    for (stage, error) in &g.stage_failures {
        let _ = writeln!(md, "\n**The {stage} failed:** {error}");
    }
    match &g.advanced {
        Some((champion, accepted, validation)) => {
            let _ = writeln!(
                md,
                "\n→ generation {} champion `{}` (parent `{}`): {} — validation {}/{}\n",
                g.number,
                champion.id(),
                champion.parent.clone().unwrap_or_default(),
                accepted.join(" + "),
                validation.passed,
                validation.total
            );
        }
        None if g.no_advance => {
            let _ = writeln!(md, "\n→ generation {}: no edit accepted\n", g.number);
        }
        None => {
            let _ = writeln!(md, "\n→ generation {}: not completed\n", g.number);
        }
    }
}

fn cost(md: &mut String, d: &RunData) {
    md.push_str("## Cost\n\n");
    if let Some(f) = &d.finished {
        let _ = writeln!(
            md,
            "Stopped: {}. Final champion `{}`.\n",
            f.reason, f.champion
        );
    }
    md.push_str("| generation | evaluations | tokens | evaluation time |\n|---|---|---|---|\n");
    let row = |md: &mut String, label: &str, c: Cost| {
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {:.1} s |",
            c.evaluations,
            c.tokens,
            c.eval_ms as f64 / 1000.0
        );
    };
    for g in &d.generations {
        row(md, &g.number.to_string(), g.cost);
    }
    row(md, "final scoring and ablation", d.closing_cost);
    row(md, "**total**", d.total_cost());
    let decisions = d.generations.iter().flat_map(|g| g.decisions.values());
    let (planned, evaluated) = decisions.fold((0, 0), |(p, e), x| {
        (p + x.pairs_planned, e + x.pairs_evaluated)
    });
    let _ = writeln!(md, "\nEvaluation time sums each evaluation's wall time (they run in parallel). Candidate evaluations in validation: {evaluated} of {planned} planned ({:.0} % saved by early stopping).", 100.0 * (1.0 - evaluated as f64 / planned.max(1) as f64));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn markdown_keeps_the_sections_and_every_decided_proposal() {
        let d = fixture::data();
        let md = render(&d);
        for s in [
            "## Result",
            "## Lineage",
            "## Cost",
            "**accepted**",
            "| test |",
        ] {
            assert!(md.contains(s), "no {s:?} in\n{md}");
        }
        for g in &d.generations {
            for id in g.decisions.keys() {
                assert!(md.contains(id.as_str()), "{id} missing");
            }
        }
        assert!(md.contains("| 1 | 3 | "), "per-generation cost row\n{md}");
    }
}
