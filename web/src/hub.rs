//! [`Hub`]: every run the dashboard knows, as sequences of logged events. Live runs are fed by
//! the process that runs them ([`Hub::logged`]); past runs are read lazily from
//! `<runs dir>/<id>/events.jsonl`. Watchers ask for the events after a seq ([`Hub::tail`]) and
//! wait on the run's newest seq for more, so a watcher that connects late (or reconnects)
//! replays from any seq and then follows live, in log order, with nothing missed or repeated.
//! No transport here: the HTTP side is [`crate::routes`].

use crate::metrics::Metrics;
use selfharness_coordinator::report::{self, safe_name, RunData, Summary};
use selfharness_coordinator::RunEvent;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;
use tokio::sync::watch;

/// One event of a run's log, as watchers receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// Its line number in the run's `events.jsonl` (from 1).
    pub seq: u64,
    /// The event's `type` (`evaluated`, `advanced`, …): the SSE event name.
    pub kind: String,
    /// The event as one JSON line (its line in `events.jsonl`, without the newline).
    pub json: String,
    /// The event itself, for the runs list's summaries.
    pub event: RunEvent,
}

impl Logged {
    fn new(seq: u64, event: RunEvent) -> Logged {
        let json = serde_json::to_string(&event).unwrap_or_default();
        Logged {
            seq,
            kind: kind_of(&json),
            json,
            event,
        }
    }
}

/// The `type` field of an event's JSON (serde writes an enum's tag first).
fn kind_of(json: &str) -> String {
    if let Some(kind) = json
        .strip_prefix("{\"type\":\"")
        .and_then(|rest| rest.split('"').next())
    {
        return kind.to_string();
    }
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("type")?.as_str().map(String::from))
        .unwrap_or_default()
}

/// What a watcher gets from [`Hub::tail`].
#[derive(Debug)]
pub struct Tail {
    /// Every event after the seq asked for, in order.
    pub events: Vec<Arc<Logged>>,
    /// Seq of the run's newest event (0 for none).
    pub last_seq: u64,
    /// The run's `finished` event is among its events: nothing will follow it.
    pub finished: bool,
    /// Fed by [`Hub::logged`] in this process (else read from its `events.jsonl`, which some
    /// other process may still be writing).
    pub live: bool,
    /// Changes whenever a live run logs an event; subscribed together with `events`, so no
    /// event logged after them is missed.
    pub newest: watch::Receiver<u64>,
}

/// One run's events and state.
struct Run {
    events: Vec<Arc<Logged>>,
    finished: bool,
    live: bool,
    started: Option<SystemTime>,
    /// Bytes and lines of `events.jsonl` already read (a torn last line is not read).
    read_bytes: u64,
    read_lines: u64,
    /// From the run's config, to price its tokens in the metrics.
    price_per_mtok: f64,
    newest: watch::Sender<u64>,
}

impl Run {
    fn new(started: Option<SystemTime>) -> Run {
        Run {
            events: Vec::new(),
            finished: false,
            live: false,
            started,
            read_bytes: 0,
            read_lines: 0,
            price_per_mtok: 0.0,
            newest: watch::channel(0).0,
        }
    }

    fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |l| l.seq)
    }

    fn push(&mut self, l: Logged) {
        match &l.event {
            RunEvent::RunStarted { config, .. } => self.price_per_mtok = config.price_per_mtok,
            RunEvent::Finished { .. } => self.finished = true,
            _ => {}
        }
        let seq = l.seq;
        self.events.push(Arc::new(l));
        self.newest.send_replace(seq);
    }

    /// Read the complete lines of `log` not read yet, up to line `upto` (all when `None`),
    /// keeping those after the newest event held. A line that does not parse keeps its seq
    /// (the line number) and is skipped.
    fn read(&mut self, log: &Path, upto: Option<u64>) {
        let Ok(mut f) = std::fs::File::open(log) else {
            return;
        };
        let len = f.metadata().map_or(0, |m| m.len());
        if len <= self.read_bytes || f.seek(SeekFrom::Start(self.read_bytes)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        let mut at = 0;
        while let Some(n) = buf[at..].iter().position(|b| *b == b'\n') {
            let seq = self.read_lines + 1;
            if upto.is_some_and(|u| seq > u) {
                break;
            }
            let line = &buf[at..at + n];
            at += n + 1;
            self.read_bytes += n as u64 + 1;
            self.read_lines = seq;
            if seq <= self.last_seq() {
                continue;
            }
            match serde_json::from_slice::<RunEvent>(line) {
                Ok(e) => self.push(Logged::new(seq, e)),
                Err(e) => {
                    tracing::warn!(log = %log.display(), line = seq, error = %e, "skipping an event that does not parse")
                }
            }
        }
    }
}

/// A row of the runs list.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub id: String,
    /// `running` (fed live here and not finished), `finished`, or `incomplete` (a log that
    /// stops before `finished`: a killed run, or one another process is still writing).
    pub status: &'static str,
    /// When the run started (when its log was created, as far as the file system tells).
    pub started: Option<SystemTime>,
    /// The run in numbers, folded from its events like `report.json`.
    pub summary: Summary,
    /// Its directory holds `report.html`.
    pub has_report: bool,
}

/// Every run the dashboard serves: live ones fed by [`Hub::logged`], past ones read lazily from
/// the runs directory. Also holds the process's [`Metrics`].
pub struct Hub {
    /// Where run directories live: `<runs_dir>/<run id>/events.jsonl`.
    runs_dir: Option<PathBuf>,
    /// Runs held in memory (live ones, and past ones a watcher asked for), by id.
    runs: Mutex<BTreeMap<String, Arc<Mutex<Run>>>>,
    metrics: Metrics,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn created(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    meta.created().or_else(|_| meta.modified()).ok()
}

impl Hub {
    /// A hub serving the runs under `runs_dir` (a run directory's name is its id) besides the
    /// live runs it is fed; `None` for live runs only.
    pub fn new(runs_dir: Option<PathBuf>) -> Hub {
        Hub {
            runs_dir,
            runs: Mutex::new(BTreeMap::new()),
            metrics: Metrics::default(),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The directory of run `id` (`<runs dir>/<id>`), when `id` is a plain name.
    pub fn run_dir(&self, id: &str) -> Option<PathBuf> {
        safe_name(id).then(|| self.runs_dir.as_ref().map(|d| d.join(id)))?
    }

    fn log_of(&self, id: &str) -> Option<PathBuf> {
        self.run_dir(id).map(|d| d.join("events.jsonl"))
    }

    /// Feed one event just appended to run `run_id`'s log as line `seq` (lines count from 1,
    /// without gaps). Call it with every logged event, in log order: it is the coordinator's
    /// `on_logged`. A seq already held is ignored; when `seq` skips lines (a resumed run logs
    /// from the end of its old log), the lines before it are read from the run's
    /// `events.jsonl`. The run is over after its `finished` event.
    pub fn logged(&self, run_id: &str, seq: u64, e: &RunEvent) {
        let log = self.log_of(run_id);
        let run = lock(&self.runs)
            .entry(run_id.to_string())
            .or_insert_with(|| {
                let started = log.as_deref().and_then(created);
                Arc::new(Mutex::new(Run::new(started.or(Some(SystemTime::now())))))
            })
            .clone();
        let mut run = lock(&run);
        run.live = true;
        if seq <= run.last_seq() {
            return;
        }
        if seq > run.last_seq() + 1 {
            if let Some(log) = &log {
                run.read(log, Some(seq - 1));
            }
        }
        run.push(Logged::new(seq, e.clone()));
        let price = run.price_per_mtok;
        drop(run);
        self.metrics.observe(run_id, e, price);
    }

    /// Run `id` in memory, loading a past run from its directory on first use.
    fn run(&self, id: &str) -> Option<Arc<Mutex<Run>>> {
        let mut runs = lock(&self.runs);
        if let Some(r) = runs.get(id) {
            return Some(r.clone());
        }
        let log = self.log_of(id).filter(|l| l.is_file())?;
        let run = Arc::new(Mutex::new(Run::new(created(&log))));
        runs.insert(id.to_string(), run.clone());
        Some(run)
    }

    /// The events of run `id` after seq `after`, and how to wait for more; `None` for an
    /// unknown run. A past run's log is read again for lines appended since the last call.
    pub fn tail(&self, id: &str, after: u64) -> Option<Tail> {
        let run = self.run(id)?;
        let mut run = lock(&run);
        if !run.live {
            if let Some(log) = self.log_of(id) {
                run.read(&log, None);
            }
        }
        let from = run.events.partition_point(|l| l.seq <= after);
        Some(Tail {
            events: run.events[from..].to_vec(),
            last_seq: run.last_seq(),
            finished: run.finished,
            live: run.live,
            newest: run.newest.subscribe(),
        })
    }

    /// Every run, live and past, newest first.
    pub fn runs(&self) -> Vec<RunInfo> {
        let mut ids: std::collections::BTreeSet<String> =
            lock(&self.runs).keys().cloned().collect();
        if let Some(dir) = &self.runs_dir {
            if let Ok(entries) = std::fs::read_dir(dir) {
                ids.extend(
                    entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|id| safe_name(id) && dir.join(id).join("events.jsonl").is_file()),
                );
            }
        }
        let mut out: Vec<RunInfo> = ids.iter().filter_map(|id| self.info(id)).collect();
        out.sort_by(|a, b| b.started.cmp(&a.started).then(a.id.cmp(&b.id)));
        out
    }

    /// One run's row of the runs list.
    pub fn info(&self, id: &str) -> Option<RunInfo> {
        let held = lock(&self.runs).get(id).cloned();
        let log = self.log_of(id);
        let (data, live, started) = match held {
            Some(run) => {
                let mut run = lock(&run);
                if !run.live {
                    run.read(log.as_deref()?, None);
                }
                let events = run.events.iter().map(|l| l.event.clone());
                (RunData::from_events(events), run.live, run.started)
            }
            None => {
                let log = log.filter(|l| l.is_file())?;
                (report::load(&log).ok()?, false, created(&log))
            }
        };
        let status = match (data.is_finished(), live) {
            (true, _) => "finished",
            (false, true) => "running",
            (false, false) => "incomplete",
        };
        Some(RunInfo {
            id: id.to_string(),
            status,
            started,
            summary: Summary::of(&data),
            has_report: self
                .run_dir(id)
                .is_some_and(|d| d.join("report.html").is_file()),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use selfharness_coordinator::{RunConfig, SplitScore};
    use selfharness_core::eval::{EvalStatus, Evaluation};
    use selfharness_core::harness::Harness;
    use selfharness_core::task::Split;

    pub fn started() -> RunEvent {
        RunEvent::RunStarted {
            config: RunConfig {
                price_per_mtok: 2.0,
                ..RunConfig::default()
            },
            baseline: Harness::builtin_default(),
            model_id: "m".into(),
        }
    }

    pub fn evaluated(i: u32, status: EvalStatus, tokens: u64, wall_ms: u64) -> RunEvent {
        RunEvent::Evaluated {
            evaluation: Evaluation {
                key: format!("k{i}"),
                task_id: "task-a".into(),
                harness_id: "h-base".into(),
                model_id: "m".into(),
                trial: i,
                seed: 1,
                status,
                reward: Some(if status == EvalStatus::Passed {
                    1.0
                } else {
                    0.0
                }),
                end: None,
                turns: 1,
                usage: selfharness_core::model::Usage {
                    prompt_tokens: tokens,
                    completion_tokens: 0,
                },
                wall_ms,
                trace: None,
                error: None,
            },
        }
    }

    pub fn scored(split: Split, passed: u32, total: u32) -> RunEvent {
        RunEvent::Scored {
            score: SplitScore {
                harness_id: "h-base".into(),
                split,
                passed,
                total,
            },
        }
    }

    pub fn finished() -> RunEvent {
        RunEvent::Finished {
            champion: "h-base".into(),
            reason: "max generations (1) reached".into(),
            evaluations: 2,
            tokens: 10,
        }
    }

    /// A short finished run.
    pub fn run_events() -> Vec<RunEvent> {
        vec![
            started(),
            RunEvent::GenerationStarted {
                generation: 1,
                champion: "h-base".into(),
            },
            evaluated(0, EvalStatus::Passed, 4, 1500),
            evaluated(1, EvalStatus::Failed, 6, 500),
            RunEvent::NoAdvance { generation: 1 },
            RunEvent::Stopped {
                reason: "max generations (1) reached".into(),
            },
            scored(Split::Validation, 1, 2),
            finished(),
        ]
    }

    fn seqs(t: &Tail) -> Vec<u64> {
        t.events.iter().map(|l| l.seq).collect()
    }

    #[test]
    fn a_watcher_replays_from_any_seq_then_sees_live_events_in_order() {
        let hub = Hub::new(None);
        let events = run_events();
        for (i, e) in events[..3].iter().enumerate() {
            hub.logged("r", i as u64 + 1, e);
        }
        let t = hub.tail("r", 1).unwrap();
        assert_eq!(seqs(&t), vec![2, 3]);
        assert!(t.live && !t.finished);
        let newest = t.newest;
        assert!(!newest.has_changed().unwrap(), "nothing new yet");
        hub.logged("r", 4, &events[3]);
        hub.logged("r", 4, &events[3]); // a repeat is ignored
        assert!(newest.has_changed().unwrap(), "the watcher is woken");
        assert_eq!(seqs(&hub.tail("r", 3).unwrap()), vec![4]);
        for (i, e) in events.iter().enumerate().skip(4) {
            hub.logged("r", i as u64 + 1, e);
        }
        let t = hub.tail("r", 0).unwrap();
        assert_eq!(seqs(&t), (1..=8).collect::<Vec<_>>());
        assert!(t.finished);
        assert_eq!(t.events[7].kind, "finished");
        assert_eq!(t.events[2].json, serde_json::to_string(&events[2]).unwrap());
        assert!(hub.tail("r", 8).unwrap().events.is_empty());
        assert!(hub.tail("other", 0).is_none());
    }

    proptest::proptest! {
        /// Whatever was logged when a watcher came, and wherever it starts, it sees every
        /// later event once, in order: the replay, then what is logged while it watches.
        #[test]
        fn a_watcher_sees_every_event_after_its_seq_once_in_order(
            n in 1u64..30, at in 0u64..30, after in 0u64..35, repeat in 0u64..30,
        ) {
            let hub = Hub::new(None);
            let e = RunEvent::NoAdvance { generation: 1 };
            let at = at.min(n);
            for seq in 1..=at {
                hub.logged("r", seq, &e);
            }
            let first = hub.tail("r", after);
            let mut seen: Vec<u64> = first.iter().flat_map(|t| t.events.iter().map(|l| l.seq)).collect();
            for seq in at + 1..=n {
                hub.logged("r", seq, &e);
                hub.logged("r", repeat.min(seq), &e); // repeats change nothing
            }
            let cursor = seen.last().copied().unwrap_or(after);
            seen.extend(hub.tail("r", cursor).unwrap().events.iter().map(|l| l.seq));
            proptest::prop_assert_eq!(seen, (after + 1..=n).collect::<Vec<_>>());
        }
    }

    fn write_log(dir: &Path, events: &[RunEvent]) {
        std::fs::create_dir_all(dir).unwrap();
        let text: String = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        std::fs::write(dir.join("events.jsonl"), text).unwrap();
    }

    #[test]
    fn a_resumed_run_fills_the_lines_before_its_first_live_event_from_its_log() {
        let tmp = tempfile::tempdir().unwrap();
        let events = run_events();
        write_log(&tmp.path().join("r"), &events[..4]);
        let hub = Hub::new(Some(tmp.path().to_path_buf()));
        hub.logged("r", 5, &events[4]);
        let t = hub.tail("r", 0).unwrap();
        assert_eq!(seqs(&t), vec![1, 2, 3, 4, 5]);
        assert_eq!(t.events[0].kind, "run_started");
        // Only what was logged live is counted in the metrics, not the lines read back.
        assert!(hub
            .metrics()
            .render()
            .contains("selfharness_evaluations_total{status=\"passed\"} 0\n"));
    }

    #[test]
    fn a_past_run_is_read_lazily_and_followed_as_its_log_grows() {
        let tmp = tempfile::tempdir().unwrap();
        let events = run_events();
        let dir = tmp.path().join("past");
        write_log(&dir, &events[..3]);
        // A torn last line is not read until it is complete.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("events.jsonl"))
            .unwrap();
        std::io::Write::write_all(&mut f, b"{\"type\":\"no_adv").unwrap();
        let hub = Hub::new(Some(tmp.path().to_path_buf()));
        let t = hub.tail("past", 0).unwrap();
        assert_eq!(seqs(&t), vec![1, 2, 3]);
        assert!(!t.live && !t.finished);
        std::io::Write::write_all(&mut f, b"ance\",\"generation\":1}\n").unwrap();
        let t = hub.tail("past", 3).unwrap();
        assert_eq!(seqs(&t), vec![4]);
        assert_eq!(t.events[0].event, events[4]);
        let list = hub.runs();
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].id.as_str(), list[0].status),
            ("past", "incomplete")
        );
        assert!(hub.tail("../past", 0).is_none(), "ids are plain names");
    }

    #[test]
    fn the_runs_list_has_live_and_past_runs_with_their_status() {
        let tmp = tempfile::tempdir().unwrap();
        write_log(&tmp.path().join("done"), &run_events());
        std::fs::create_dir(tmp.path().join("not-a-run")).unwrap();
        let hub = Hub::new(Some(tmp.path().to_path_buf()));
        hub.logged("now", 1, &started());
        let list = hub.runs();
        let by_id: BTreeMap<&str, &RunInfo> = list.iter().map(|r| (r.id.as_str(), r)).collect();
        assert_eq!(by_id.len(), 2);
        assert_eq!(by_id["now"].status, "running");
        assert_eq!(by_id["done"].status, "finished");
        assert_eq!(by_id["done"].summary.cost.evaluations, 2);
        assert_eq!(list[0].id, "now", "newest first");
    }
}
