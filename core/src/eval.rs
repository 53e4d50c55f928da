//! Evaluation: (harness id, task id, model id, trial, seed) → outcome, cost, trace. The key is
//! content-addressed, so the same evaluation is never run twice. This module runs one
//! evaluation end to end (sandbox → agent → verifier) and many in parallel; it never decides
//! anything from the results.

use crate::agent::run_episode;
use crate::harness::Harness;
use crate::model::{Model, Usage};
use crate::rng::{hash_str, mix};
use crate::sandbox::Sandbox;
use crate::task::Task;
use crate::trace::{EndReason, Trace};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Content address of an evaluation.
pub fn eval_key(harness_id: &str, task_id: &str, model_id: &str, trial: u32, seed: u64) -> String {
    let d =
        Sha256::digest(format!("{harness_id}\n{task_id}\n{model_id}\n{trial}\n{seed}").as_bytes());
    format!("e-{}", &hex::encode(d)[..16])
}

/// Seed of one episode, derived from the run seed, the task and the trial (not the harness, so
/// champion and candidate meet the same model behaviour on the same task and trial).
pub fn episode_seed(seed: u64, task_id: &str, trial: u32) -> u64 {
    mix(&[seed, hash_str(task_id), u64::from(trial)])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalStatus {
    Passed,
    Failed,
    /// Infrastructure failure (sandbox could not be built, verifier wrote no reward): never
    /// counted as an agent failure.
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub key: String,
    pub task_id: String,
    pub harness_id: String,
    pub model_id: String,
    pub trial: u32,
    pub seed: u64,
    pub status: EvalStatus,
    pub reward: Option<f64>,
    pub end: Option<EndReason>,
    pub turns: u32,
    pub usage: Usage,
    pub wall_ms: u64,
    /// Trace file name, relative to the run's traces directory.
    pub trace: Option<String>,
    /// What went wrong, for `Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Evaluation {
    pub fn passed(&self) -> bool {
        self.status == EvalStatus::Passed
    }
}

/// One evaluation to run.
#[derive(Clone)]
pub struct EvalJob {
    pub task: Task,
    pub harness: Arc<Harness>,
    pub trial: u32,
    pub seed: u64,
}

/// Where evaluations put their sandboxes and traces.
#[derive(Debug, Clone)]
pub struct EvalDirs {
    pub sandboxes: PathBuf,
    pub traces: PathBuf,
}

/// Run one evaluation end to end and write its trace, in an `evaluation` span that records
/// the outcome.
pub fn evaluate(job: &EvalJob, model: &dyn Model, dirs: &EvalDirs) -> Evaluation {
    use tracing::field::Empty;
    let harness_id = job.harness.id();
    let key = eval_key(&harness_id, &job.task.id, &model.id(), job.trial, job.seed);
    let span = tracing::info_span!(
        "evaluation",
        key = %key,
        task = %job.task.id,
        trial = job.trial,
        harness = %harness_id,
        status = Empty,
        reward = Empty,
        tokens = Empty,
        turns = Empty,
        end = Empty,
    );
    let ev = span.in_scope(|| evaluate_unobserved(job, model, dirs));
    span.record("status", format!("{:?}", ev.status).to_lowercase());
    if let Some(r) = ev.reward {
        span.record("reward", r);
    }
    span.record(
        "tokens",
        ev.usage.prompt_tokens + ev.usage.completion_tokens,
    );
    span.record("turns", ev.turns);
    if let Some(end) = ev.end {
        span.record("end", end.as_str());
    }
    ev
}

/// [`evaluate`] without its span.
fn evaluate_unobserved(job: &EvalJob, model: &dyn Model, dirs: &EvalDirs) -> Evaluation {
    let start = Instant::now();
    let (task, harness) = (&job.task, &*job.harness);
    let harness_id = harness.id();
    let model_id = model.id();
    let key = eval_key(&harness_id, &task.id, &model_id, job.trial, job.seed);
    let seed = episode_seed(job.seed, &task.id, job.trial);
    let mut ev = Evaluation {
        key: key.clone(),
        task_id: task.id.clone(),
        harness_id: harness_id.clone(),
        model_id: model_id.clone(),
        trial: job.trial,
        seed: job.seed,
        status: EvalStatus::Error,
        reward: None,
        end: None,
        turns: 0,
        usage: Usage::default(),
        wall_ms: 0,
        trace: None,
        error: None,
    };
    let sandbox = match Sandbox::for_task(task, &dirs.sandboxes) {
        Ok(s) => s,
        Err(e) => {
            ev.error = Some(format!("sandbox for {}: {e}", task.id));
            ev.wall_ms = start.elapsed().as_millis() as u64;
            return ev;
        }
    };
    let run = run_episode(task, harness, model, &sandbox, seed);
    let verdict = sandbox.run_verifier(Duration::from_secs_f64(task.config.verifier_timeout_sec));
    ev.end = Some(run.end);
    ev.turns = run.steps.len() as u32;
    ev.usage = run.usage;
    let (reward, verifier_output) = match verdict {
        Ok(v) => (Some(v.reward), v.output),
        Err(e) => {
            ev.error = Some(e.to_string());
            (None, e.to_string())
        }
    };
    ev.reward = reward;
    ev.status = match reward {
        Some(r) if r >= 1.0 - 1e-9 => EvalStatus::Passed,
        Some(_) => EvalStatus::Failed,
        None => EvalStatus::Error,
    };
    ev.wall_ms = start.elapsed().as_millis() as u64;
    let trace = Trace {
        id: key.clone(),
        task_id: task.id.clone(),
        harness_id,
        model_id,
        trial: job.trial,
        seed: job.seed,
        steps: run.steps,
        end: run.end,
        end_detail: run.end_detail,
        reward,
        verifier_output,
        usage: run.usage,
        wall_ms: ev.wall_ms,
    };
    let name = format!("{key}.json");
    match write_json(&dirs.traces.join(&name), &trace) {
        Ok(()) => ev.trace = Some(name),
        Err(e) => tracing::warn!(key = %key, error = %e, "trace not written"),
    }
    ev
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}

/// A limit on evaluations running at once, shared by every caller that holds it (several
/// threads may each hand [`evaluate_all`] a batch; together they never exceed the limit).
pub struct Slots {
    total: usize,
    free: Mutex<usize>,
    freed: std::sync::Condvar,
}

impl Slots {
    pub fn new(n: usize) -> Self {
        Slots {
            total: n.max(1),
            free: Mutex::new(n.max(1)),
            freed: std::sync::Condvar::new(),
        }
    }

    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        drop(free);
        struct Release<'a>(&'a Slots);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        f()
    }
}

/// Run `jobs` in parallel, each in a slot of `slots`; `on_done` sees every result as it
/// lands; results come back in job order.
pub fn evaluate_all(
    jobs: Vec<EvalJob>,
    model: Arc<dyn Model>,
    dirs: &EvalDirs,
    slots: &Slots,
    on_done: &(dyn Fn(&Evaluation) + Sync),
) -> Vec<Evaluation> {
    let n = jobs.len();
    let queue = Mutex::new(jobs.into_iter().enumerate());
    let results: Mutex<Vec<Option<Evaluation>>> = Mutex::new(vec![None; n]);
    // The caller's span (a validation, a stage) is every evaluation's parent.
    let parent = tracing::Span::current();
    std::thread::scope(|s| {
        for _ in 0..slots.total.min(n.max(1)) {
            s.spawn(|| loop {
                let _parent = parent.enter();
                let next = queue.lock().expect("queue lock").next();
                let Some((i, job)) = next else { break };
                let ev = slots.run(|| evaluate(&job, &*model, dirs));
                on_done(&ev);
                results.lock().expect("results lock")[i] = Some(ev);
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|e| e.expect("every job ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_component() {
        let base = eval_key("h", "t", "m", 0, 1);
        assert_eq!(base, eval_key("h", "t", "m", 0, 1));
        for other in [
            eval_key("h2", "t", "m", 0, 1),
            eval_key("h", "t2", "m", 0, 1),
            eval_key("h", "t", "m2", 0, 1),
            eval_key("h", "t", "m", 1, 1),
            eval_key("h", "t", "m", 0, 2),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn episode_seed_ignores_the_harness_but_not_the_trial() {
        assert_eq!(episode_seed(7, "a", 0), episode_seed(7, "a", 0));
        assert_ne!(episode_seed(7, "a", 0), episode_seed(7, "a", 1));
        assert_ne!(episode_seed(7, "a", 0), episode_seed(7, "b", 0));
    }
}
