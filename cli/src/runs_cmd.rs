//! `selfharness runs`, `show` and `report`: look at past runs from their directories. Everything
//! comes from each run's event log through `selfharness_coordinator::report`; these commands
//! never run or change a run, and `report` writes only the report files.

use anyhow::{Context, Result};
use clap::Args;
use selfharness_coordinator::report::{self, Summary};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct RunsArgs {
    /// Directory holding run directories.
    #[arg(long, default_value = "runs")]
    pub dir: PathBuf,
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    /// A run directory, or the name of one under --dir.
    pub run: String,
    #[arg(long, default_value = "runs")]
    pub dir: PathBuf,
    /// Print the run's summary (report.json's content) as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ReportArgs {
    /// A run directory, or the name of one under --dir.
    pub run: String,
    #[arg(long, default_value = "runs")]
    pub dir: PathBuf,
}

/// One line of `selfharness runs`.
#[derive(Serialize)]
struct RunRow {
    id: String,
    dir: PathBuf,
    /// When the event log was created (UTC), or last written when the file system cannot say.
    started: String,
    model_id: String,
    generations: usize,
    generations_planned: Option<u32>,
    baseline_validation: Option<f64>,
    final_validation: Option<f64>,
    status: String,
}

fn resolve(run: &str, dir: &Path) -> Result<PathBuf> {
    let direct = PathBuf::from(run);
    let p = if direct.join("events.jsonl").is_file() {
        direct
    } else {
        dir.join(run)
    };
    anyhow::ensure!(
        p.join("events.jsonl").is_file(),
        "{run}: no run there (looked for events.jsonl in {} and {})",
        run,
        p.display()
    );
    Ok(p)
}

fn summary(run_dir: &Path) -> Result<Summary> {
    let log = run_dir.join("events.jsonl");
    let data = report::load(&log).with_context(|| format!("reading {}", log.display()))?;
    Ok(Summary::of(&data))
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{:.1}%", 100.0 * x))
}

pub fn runs(a: RunsArgs) -> Result<ExitCode> {
    let entries =
        std::fs::read_dir(&a.dir).with_context(|| format!("listing {}", a.dir.display()))?;
    let mut rows = Vec::new();
    for e in entries.flatten() {
        let dir = e.path();
        let log = dir.join("events.jsonl");
        if !log.is_file() {
            continue;
        }
        let s = summary(&dir)?;
        let meta = std::fs::metadata(&log)?;
        let started = meta.created().or_else(|_| meta.modified()).ok();
        rows.push((
            started,
            RunRow {
                id: e.file_name().to_string_lossy().into_owned(),
                started: started.map(utc).unwrap_or_default(),
                dir,
                model_id: s.model_id,
                generations: s.generations.len(),
                generations_planned: s.config.map(|c| c.generations),
                baseline_validation: s.baseline.validation.map(|v| v.rate),
                final_validation: s.final_.validation.map(|v| v.rate),
                status: s.status,
            },
        ));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
    let rows: Vec<RunRow> = rows.into_iter().map(|r| r.1).collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no runs in {}", a.dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<28} {:<20} {:<28} {:>5}  {:<17} status",
        "run", "started (UTC)", "model", "gens", "validation"
    );
    for r in &rows {
        let gens = match r.generations_planned {
            Some(p) => format!("{}/{p}", r.generations),
            None => r.generations.to_string(),
        };
        println!(
            "{:<28} {:<20} {:<28} {:>5}  {:<17} {}",
            r.id,
            r.started,
            r.model_id,
            gens,
            format!(
                "{} → {}",
                pct(r.baseline_validation),
                pct(r.final_validation)
            ),
            r.status
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(a: ShowArgs) -> Result<ExitCode> {
    let dir = resolve(&a.run, &a.dir)?;
    let s = summary(&dir)?;
    let html = dir.join("report.html");
    if a.json {
        let mut v = serde_json::to_value(&s)?;
        v["dir"] = serde_json::json!(dir);
        v["report_html"] = serde_json::json!(html.is_file().then_some(&html));
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("run {} — {}", dir.display(), s.status);
    if let Some(c) = &s.config {
        println!(
            "model {}  seed {}  generations {}/{}  k {}  trials train {} validation {} test {}",
            s.model_id,
            c.seed,
            s.generations.len(),
            c.generations,
            c.k,
            c.train_trials,
            c.val_trials,
            c.test_trials
        );
    }
    if let Some(r) = &s.stop_reason {
        println!("stopped: {r}");
    }
    let score = |x: &Option<report::json::Score>| {
        x.as_ref().map_or("—".into(), |s| {
            format!("{:.1}% ({}/{})", 100.0 * s.rate, s.passed, s.total)
        })
    };
    println!(
        "validation  baseline {} → final {}",
        score(&s.baseline.validation),
        score(&s.final_.validation)
    );
    println!(
        "test        baseline {} → final {}",
        score(&s.baseline.test),
        score(&s.final_.test)
    );
    for g in &s.generations {
        println!(
            "generation {}: champion {}, {} weaknesses",
            g.generation, g.champion, g.weaknesses
        );
        for p in &g.proposals {
            let what = match &p.decision {
                Some(d) => format!(
                    "{} b={} c={} p={:.4}",
                    if d.accepted { "ACCEPT" } else { "reject" },
                    d.b,
                    d.c,
                    d.p_value
                ),
                None => "not validated".into(),
            };
            println!("  {what}  {}  {}", p.id, p.edits.join("; "));
        }
        match &g.advanced_to {
            Some(h) => println!("  → {h} ({})", g.accepted.join(" + ")),
            None if g.outcome == "kept" => println!("  → no edit accepted"),
            None => println!("  → unfinished"),
        }
    }
    for a in &s.ablations {
        println!("ablation {}: {:+.1} pp", a.proposal, a.effect * 100.0);
    }
    println!(
        "cost: {} evaluations, {} tokens, {:.1} s evaluation time",
        s.cost.evaluations,
        s.cost.tokens,
        s.cost.eval_ms as f64 / 1000.0
    );
    if html.is_file() {
        println!("report: {}", html.display());
    } else {
        println!(
            "report: none yet; write it with `selfharness report {}`",
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report(a: ReportArgs) -> Result<ExitCode> {
    let dir = resolve(&a.run, &a.dir)?;
    report::write(&dir, &dir.join("events.jsonl"))
        .with_context(|| format!("writing the report of {}", dir.display()))?;
    for f in ["report.md", "report.html", "report.json"] {
        println!("{}", dir.join(f).display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-26 11:42:05` for a time, in UTC.
pub fn utc(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        let at = |s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(utc(at(0)), "1970-01-01 00:00:00");
        assert_eq!(utc(at(951_782_400 + 3661)), "2000-02-29 01:01:01");
    }
}
