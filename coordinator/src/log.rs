//! The run's append-only event log (JSON lines) and resume by replay: on resume the recorded
//! evaluations fill the cache, and the coordinator's deterministic algorithm runs again; events
//! already in the log are matched in order and not written twice.

use crate::RunEvent;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct RunLog {
    path: PathBuf,
    /// Non-evaluation events already in the log, in order.
    recorded: Vec<RunEvent>,
    cursor: usize,
    /// Keys of the evaluations in the log: a result reported twice is written once.
    evaluated: std::collections::HashSet<String>,
    /// Lines in the log: the last event's seq (events are numbered from 1, without gaps).
    lines: u64,
    file: std::fs::File,
}

impl RunLog {
    /// Open (or create) `dir/events.jsonl`; returns the log and every evaluation it holds.
    pub fn open(dir: &Path) -> std::io::Result<(RunLog, Vec<selfharness_core::eval::Evaluation>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("events.jsonl");
        let mut recorded = Vec::new();
        let mut evals = Vec::new();
        let mut lines = 0u64;
        if let Ok(text) = std::fs::read_to_string(&path) {
            for (i, line) in text.lines().enumerate() {
                match serde_json::from_str::<RunEvent>(line) {
                    Ok(RunEvent::Evaluated { evaluation }) => {
                        lines += 1;
                        evals.push(evaluation)
                    }
                    Ok(e) => {
                        lines += 1;
                        recorded.push(e)
                    }
                    // A line cut by a kill mid-write is the only one that may be torn: the last.
                    Err(e) if i + 1 == text.lines().count() => {
                        tracing::warn!(line = i + 1, error = %e, "ignoring torn last line of the event log")
                    }
                    Err(e) => {
                        return Err(std::io::Error::other(format!(
                            "{}: line {}: {e}",
                            path.display(),
                            i + 1
                        )))
                    }
                }
            }
            // Rewrite without a torn tail so appends start on a clean line.
            if !text.is_empty() && !text.ends_with('\n') {
                let keep: String = text
                    .lines()
                    .take(text.lines().count() - 1)
                    .map(|l| format!("{l}\n"))
                    .collect();
                std::fs::write(&path, keep)?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok((
            RunLog {
                path,
                recorded,
                cursor: 0,
                evaluated: evals.iter().map(|e| e.key.clone()).collect(),
                lines,
                file,
            },
            evals,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True while the run is replaying what the log already holds.
    pub fn replaying(&self) -> bool {
        self.cursor < self.recorded.len()
    }

    /// Seq of the last event in the log (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.lines
    }

    /// Append `e` unless replay shows it is already recorded. Returns its seq (its line number)
    /// when it was new.
    pub fn emit(&mut self, e: &RunEvent) -> std::io::Result<Option<u64>> {
        if let RunEvent::Evaluated { evaluation } = e {
            if !self.evaluated.insert(evaluation.key.clone()) {
                return Ok(None);
            }
        }
        if !matches!(e, RunEvent::Evaluated { .. }) && self.cursor < self.recorded.len() {
            let old = &self.recorded[self.cursor];
            if std::mem::discriminant(old) != std::mem::discriminant(e) {
                return Err(std::io::Error::other(format!(
                    "{}: replay diverged at event {} (log has another event kind)",
                    self.path.display(),
                    self.cursor + 1
                )));
            }
            self.cursor += 1;
            return Ok(None);
        }
        let mut line = serde_json::to_string(e).map_err(std::io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()?;
        self.lines += 1;
        Ok(Some(self.lines))
    }
}
