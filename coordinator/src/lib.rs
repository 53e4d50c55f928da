//! Coordinator: runs generations of mine → propose → validate → advance, composes accepted
//! patches into the next champion, stops on max generations, plateau or budget caps, keeps the
//! `test` split sealed until the run ends, and records everything as an append-only event log
//! whose replay resumes a killed run to the same champion. It evaluates through a [`Backend`]
//! and knows nothing of how evaluations travel.
//!
//! # Layout
//! - `lib.rs` — config, events, the generation loop.
//! - [`log`] — the event log and replay.
//! - [`report`] — `report.md` from the events.

pub mod log;
pub mod report;

use selfharness_core::eval::{eval_key, EvalJob, Evaluation};
use selfharness_core::harness::Harness;
use selfharness_core::patch::HarnessPatch;
use selfharness_core::policy::Policy;
use selfharness_core::task::{Split, Suite, Task};
use selfharness_core::trace::Trace;
use selfharness_miner::{mine, MineRequest, Weakness};
use selfharness_proposer::{Catalogue, ProposeRequest, Proposer, Rejection};
use selfharness_validator::{Decision, Pair, Sequential, ValidationConfig};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the test split is sealed until the run ends: refusing to schedule {0} test evaluations"
    )]
    Sealed(usize),
    #[error("event log: {0}")]
    Log(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Evaluates jobs somewhere (threads here, validators over NATS elsewhere).
pub trait Backend: Sync {
    fn model_id(&self) -> String;
    /// Run `jobs`, calling `on_done` as each lands; results in job order. Every result is
    /// returned and reported exactly once.
    fn evaluate(
        &self,
        jobs: Vec<EvalJob>,
        on_done: &(dyn Fn(&Evaluation) + Sync),
    ) -> Vec<Evaluation>;
    /// Where trace `name` of an evaluation can be read.
    fn trace_path(&self, name: &str) -> PathBuf;
}

/// The miner stage as the coordinator reaches it: in this process ([`LocalMiner`]) or a miner
/// service elsewhere (over NATS in a cluster).
pub trait Miner: Sync {
    /// Weaknesses of the traces named `traces` (trace file names of the champion's train
    /// evaluations, readable at `backend.trace_path(name)` here, in the trace store elsewhere).
    /// An error is the stage's failure, said in words: the generation mines nothing.
    fn mine(
        &self,
        backend: &dyn Backend,
        traces: &[String],
        instructions: &BTreeMap<String, String>,
    ) -> std::result::Result<Vec<Weakness>, String>;
}

/// [`Miner`] in this process: reads the traces from the backend's trace paths.
pub struct LocalMiner;

impl Miner for LocalMiner {
    fn mine(
        &self,
        backend: &dyn Backend,
        traces: &[String],
        instructions: &BTreeMap<String, String>,
    ) -> std::result::Result<Vec<Weakness>, String> {
        let traces: Vec<Trace> = traces
            .iter()
            .filter_map(|n| Trace::load(&backend.trace_path(n)).ok())
            .collect();
        Ok(mine(&MineRequest {
            traces: &traces,
            instructions,
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub seed: u64,
    pub generations: u32,
    /// Proposals per generation.
    pub k: usize,
    pub train_trials: u32,
    pub val_trials: u32,
    pub test_trials: u32,
    /// The run's total false-accept budget, split evenly over every test it may run.
    pub alpha: f64,
    pub tolerance: u32,
    /// Stop after this many generations in a row with no accepted edit.
    pub plateau: u32,
    pub early_stop: bool,
    /// Measure each accepted edit's effect at the end (final champion minus that edit).
    pub ablation: bool,
    pub batch: usize,
    /// Caps; 0 means none.
    pub max_evals: u64,
    pub max_tokens: u64,
    pub max_wall_secs: u64,
    pub max_dollars: f64,
    /// Dollars per million tokens (prompt and completion alike), for the dollar cap.
    pub price_per_mtok: f64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            seed: 1,
            generations: 5,
            k: 4,
            train_trials: 4,
            val_trials: 16,
            test_trials: 8,
            alpha: 0.05,
            tolerance: 1,
            plateau: 2,
            early_stop: true,
            ablation: true,
            batch: 16,
            max_evals: 0,
            max_tokens: 0,
            max_wall_secs: 0,
            max_dollars: 0.0,
            price_per_mtok: 0.0,
        }
    }
}

impl RunConfig {
    /// α of one test: Bonferroni over every proposal and composition the run may test.
    pub fn alpha_per_test(&self) -> f64 {
        self.alpha / f64::from(self.generations.max(1)) / (self.k as f64 + 1.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalRecord {
    pub id: String,
    pub harness_id: String,
    pub patch: HarnessPatch,
    pub strategy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitScore {
    pub harness_id: String,
    pub split: Split,
    pub passed: u32,
    pub total: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        config: RunConfig,
        baseline: Harness,
        model_id: String,
    },
    Evaluated {
        evaluation: Evaluation,
    },
    GenerationStarted {
        generation: u32,
        champion: String,
    },
    Mined {
        generation: u32,
        weaknesses: Vec<Weakness>,
    },
    Proposed {
        generation: u32,
        proposals: Vec<ProposalRecord>,
        rejected: Vec<Rejection>,
    },
    Decided {
        generation: u32,
        proposal: String,
        decision: Decision,
    },
    Composed {
        generation: u32,
        harness_id: String,
        proposals: Vec<String>,
        decision: Option<Decision>,
    },
    Advanced {
        generation: u32,
        champion: Harness,
        accepted: Vec<String>,
        validation: SplitScore,
    },
    NoAdvance {
        generation: u32,
    },
    /// A stage (`miner`, `proposer`) failed for this generation; it counts as no advance.
    StageFailed {
        generation: u32,
        stage: String,
        error: String,
    },
    Stopped {
        reason: String,
    },
    Scored {
        score: SplitScore,
    },
    Ablated {
        proposal: String,
        without: String,
        effect: f64,
    },
    Finished {
        champion: String,
        reason: String,
        evaluations: u64,
        tokens: u64,
    },
}

/// A callback for every logged event, with its seq.
pub type OnLogged<'a> = Box<dyn Fn(u64, &RunEvent) + Sync + 'a>;

/// A run's stop request: the reason, once someone asked (shared with whoever may cancel).
pub type Cancel = Arc<Mutex<Option<String>>>;

/// Everything a coordinator needs.
pub struct Coordinator<'a> {
    pub cfg: RunConfig,
    pub suite: Suite,
    pub policy: Policy,
    pub baseline: Harness,
    pub backend: &'a dyn Backend,
    pub proposer: Box<dyn Proposer + 'a>,
    pub miner: Box<dyn Miner + 'a>,
    pub run_dir: PathBuf,
    /// Called with every non-evaluation event (progress for the CLI).
    pub on_event: Box<dyn Fn(&RunEvent) + Sync + 'a>,
    /// Called with every evaluation as it lands (progress for the CLI).
    pub on_eval: Box<dyn Fn(&Evaluation) + Sync + 'a>,
    /// Called with every event appended to the log, with its seq (its line number), in log
    /// order (never for events a resumed run finds already logged).
    pub on_logged: OnLogged<'a>,
    /// Set to a reason to stop the run at its next decision point (CancelRun); the run then
    /// scores what it has like any other stop.
    pub cancel: Cancel,
    log: Mutex<Option<log::RunLog>>,
    store: Mutex<Store>,
    sealed: bool,
    started: Instant,
}

/// Every evaluation of the run by key (content-addressed: nothing runs twice), and what they
/// cost.
#[derive(Default)]
struct Store {
    cache: BTreeMap<String, Evaluation>,
    evals_run: u64,
    tokens: u64,
}

/// What evaluating needs, borrowed from the coordinator so that several threads (one per
/// candidate under validation) can evaluate at once.
struct Evaluator<'c> {
    cfg: &'c RunConfig,
    backend: &'c dyn Backend,
    log: &'c Mutex<Option<log::RunLog>>,
    store: &'c Mutex<Store>,
    on_eval: &'c (dyn Fn(&Evaluation) + Sync),
    on_logged: &'c (dyn Fn(u64, &RunEvent) + Sync),
    cancel: &'c Mutex<Option<String>>,
    sealed: bool,
    started: Instant,
}

/// What a finished run returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOutcome {
    pub champion: Harness,
    pub reason: String,
    pub run_dir: PathBuf,
}

impl<'a> Coordinator<'a> {
    pub fn new(
        cfg: RunConfig,
        suite: Suite,
        policy: Policy,
        baseline: Harness,
        backend: &'a dyn Backend,
        run_dir: PathBuf,
    ) -> Self {
        Coordinator {
            cfg,
            suite,
            policy,
            baseline,
            backend,
            proposer: Box::new(Catalogue),
            miner: Box::new(LocalMiner),
            run_dir,
            on_event: Box::new(|_| {}),
            on_eval: Box::new(|_| {}),
            on_logged: Box::new(|_, _| {}),
            cancel: Arc::new(Mutex::new(None)),
            log: Mutex::new(None),
            store: Mutex::new(Store::default()),
            sealed: true,
            started: Instant::now(),
        }
    }

    fn emit(&mut self, e: RunEvent) -> Result<()> {
        let mut log = lock(&self.log);
        let seq = log.as_mut().expect("log opened by run()").emit(&e)?;
        if let Some(seq) = seq {
            (self.on_logged)(seq, &e);
        }
        drop(log);
        if seq.is_some() || !matches!(e, RunEvent::Evaluated { .. }) {
            (self.on_event)(&e);
        }
        Ok(())
    }

    fn tasks(&self, split: Split) -> Vec<Task> {
        self.suite.split(split).into_iter().cloned().collect()
    }

    /// Evaluate `harness` on `tasks` × `trials`, from the cache where possible.
    pub fn evaluate(
        &mut self,
        harness: &Arc<Harness>,
        tasks: &[Task],
        trials: u32,
        split: Split,
    ) -> Result<Vec<Evaluation>> {
        let jobs: Vec<EvalJob> = tasks
            .iter()
            .flat_map(|t| (0..trials).map(move |trial| (t, trial)))
            .map(|(t, trial)| EvalJob {
                task: t.clone(),
                harness: harness.clone(),
                trial,
                seed: self.cfg.seed,
            })
            .collect();
        self.evaluate_jobs(jobs, split)
    }

    fn log_path(&self) -> PathBuf {
        lock(&self.log).as_ref().map_or_else(
            || self.run_dir.join("events.jsonl"),
            |l| l.path().to_path_buf(),
        )
    }

    fn evaluator(&self) -> Evaluator<'_> {
        Evaluator {
            cfg: &self.cfg,
            backend: self.backend,
            log: &self.log,
            store: &self.store,
            on_eval: &*self.on_eval,
            on_logged: &*self.on_logged,
            cancel: &self.cancel,
            sealed: self.sealed,
            started: self.started,
        }
    }

    /// Evaluate `jobs` (all of `split`) in one parallel batch, skipping cached ones. Refuses
    /// the test split while it is sealed.
    pub fn evaluate_jobs(&mut self, jobs: Vec<EvalJob>, split: Split) -> Result<Vec<Evaluation>> {
        self.evaluator().run(jobs, split)
    }

    fn budget_stop(&self) -> Option<String> {
        self.evaluator().budget_stop()
    }

    fn score(&mut self, h: &Arc<Harness>, split: Split, trials: u32) -> Result<SplitScore> {
        Ok(self.score_all(&[(h.clone(), split, trials)])?.remove(0))
    }

    /// Score several (harness, split, trials) at once: one parallel evaluation for all.
    fn score_all(&mut self, what: &[(Arc<Harness>, Split, u32)]) -> Result<Vec<SplitScore>> {
        let mut jobs = Vec::new();
        let mut spans = Vec::new();
        for (h, split, trials) in what {
            let tasks = self.tasks(*split);
            let before = jobs.len();
            for t in &tasks {
                for trial in 0..*trials {
                    jobs.push(EvalJob {
                        task: t.clone(),
                        harness: h.clone(),
                        trial,
                        seed: self.cfg.seed,
                    });
                }
            }
            spans.push(jobs.len() - before);
        }
        let split = if what.iter().any(|w| w.1 == Split::Test) {
            Split::Test
        } else {
            Split::Validation
        };
        let evs = self.evaluate_jobs(jobs, split)?;
        let mut it = evs.iter();
        Ok(what
            .iter()
            .zip(spans)
            .map(|((h, split, _), n)| {
                let evs: Vec<&Evaluation> = it.by_ref().take(n).collect();
                SplitScore {
                    harness_id: h.id(),
                    split: *split,
                    passed: evs.iter().filter(|e| e.passed()).count() as u32,
                    total: evs.iter().filter(|e| e.reward.is_some()).count() as u32,
                }
            })
            .collect())
    }

    /// Paired validation of every candidate against `champ` on the validation split. The
    /// candidates' sequential tests run side by side: each round gathers the next batch of
    /// every undecided test into one parallel evaluation, so slow episodes of one candidate
    /// overlap with the others' work.
    fn validate_many(
        &mut self,
        champ: &Arc<Harness>,
        cands: &[(Arc<Harness>, Vec<String>)],
    ) -> Result<Vec<Decision>> {
        let tasks = self.tasks(Split::Validation);
        let champ_evs = self.evaluate(champ, &tasks, self.cfg.val_trials, Split::Validation)?;
        let outcomes: BTreeMap<Pair, bool> = champ_evs
            .iter()
            .filter(|e| e.reward.is_some())
            .map(|e| {
                (
                    Pair {
                        task_id: e.task_id.clone(),
                        trial: e.trial,
                    },
                    e.passed(),
                )
            })
            .collect();
        let vcfg = ValidationConfig {
            alpha: self.cfg.alpha_per_test(),
            tolerance: self.cfg.tolerance,
            early_stop: self.cfg.early_stop,
            batch: self.cfg.batch,
        };
        // Which weaknesses each champion failure shows: a candidate's test runs the failures
        // of the weaknesses it targets first. (Only the order of evaluation uses this; the
        // decision is the same in any order.)
        let shows: BTreeMap<Pair, Vec<String>> = champ_evs
            .iter()
            .filter(|e| e.reward.is_some() && !e.passed())
            .filter_map(|e| {
                let trace = Trace::load(&self.backend.trace_path(e.trace.as_ref()?)).ok()?;
                let instruction = &tasks.iter().find(|t| t.id == e.task_id)?.instruction;
                let pair = Pair {
                    task_id: e.task_id.clone(),
                    trial: e.trial,
                };
                Some((pair, selfharness_miner::weaknesses_of(&trace, instruction)))
            })
            .collect();
        let by_id: BTreeMap<String, Task> = tasks.into_iter().map(|t| (t.id.clone(), t)).collect();
        let ev = self.evaluator();
        let seed = self.cfg.seed;
        let (ev, by_id, outcomes, shows) = (&ev, &by_id, &outcomes, &shows);
        let parent = &tracing::Span::current(); // each candidate's `validate` span hangs here
        std::thread::scope(|scope| {
            let handles: Vec<_> = cands
                .iter()
                .map(|(cand, targets)| {
                    scope.spawn(move || -> Result<Decision> {
                        let id = cand.id();
                        let proposal = format!("p-{}", &id[2..]); // as the proposer names it
                        let _validate =
                            tracing::info_span!(parent: parent, "validate", %proposal, harness = %id)
                                .entered();
                        let first = shows
                            .iter()
                            .filter(|(_, ws)| ws.iter().any(|w| targets.contains(w)))
                            .map(|(p, _)| p.clone())
                            .collect();
                        let mut test = Sequential::new(outcomes.clone(), vcfg).prioritise(&first);
                        loop {
                            if let Some(r) = ev.budget_stop() {
                                test.abandon(format!("undecided: {r}"));
                            }
                            let batch = test.next_batch();
                            if batch.is_empty() {
                                break;
                            }
                            let jobs: Vec<EvalJob> = batch
                                .iter()
                                .map(|p| EvalJob {
                                    task: by_id[&p.task_id].clone(),
                                    harness: cand.clone(),
                                    trial: p.trial,
                                    seed,
                                })
                                .collect();
                            // An infrastructure error counts as a candidate failure here (it
                            // can only make acceptance harder); the log keeps it as an error.
                            let evs = ev.run(jobs, Split::Validation)?;
                            test.record(&evs.iter().map(|e| e.passed()).collect::<Vec<_>>());
                        }
                        Ok(test.decision().cloned().expect("every test decided"))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("validation thread panicked"))
                .collect()
        })
    }

    /// Run (or, when the run directory holds an event log, resume) the whole run.
    pub fn run(&mut self) -> Result<RunOutcome> {
        let _run = tracing::info_span!(
            "run",
            run_dir = %self.run_dir.display(),
            seed = self.cfg.seed,
            model = %self.backend.model_id(),
        )
        .entered();
        let (log, evals) = log::RunLog::open(&self.run_dir)?;
        lock(&self.store)
            .cache
            .extend(evals.into_iter().map(|ev| (ev.key.clone(), ev)));
        *lock(&self.log) = Some(log);
        self.started = Instant::now();
        let baseline = Arc::new(self.baseline.clone());
        self.emit(RunEvent::RunStarted {
            config: self.cfg.clone(),
            baseline: self.baseline.clone(),
            model_id: self.backend.model_id(),
        })?;
        save_harness(&self.run_dir, &baseline)?;
        let mut champion = baseline.clone();
        let mut tried: BTreeSet<String> = BTreeSet::from([champion.id()]);
        // The accepted edits in the champion, in order (for the final ablation).
        let mut lineage: Vec<(String, HarnessPatch)> = Vec::new();
        let mut idle = 0u32;
        let instructions: BTreeMap<String, String> = self
            .suite
            .tasks
            .iter()
            .map(|t| (t.id.clone(), t.instruction.clone()))
            .collect();
        let mut reason = format!("max generations ({}) reached", self.cfg.generations);
        for generation in 1..=self.cfg.generations {
            let _generation =
                tracing::info_span!("generation", number = generation, champion = %champion.id())
                    .entered();
            if let Some(r) = self.budget_stop() {
                reason = r;
                break;
            }
            self.emit(RunEvent::GenerationStarted {
                generation,
                champion: champion.id(),
            })?;
            let mine = tracing::info_span!("mine", weaknesses = tracing::field::Empty).entered();
            // Mine the champion's train traces.
            let train = self.tasks(Split::Train);
            let evs = self.evaluate(&champion, &train, self.cfg.train_trials, Split::Train)?;
            let traces: Vec<String> = evs.iter().filter_map(|e| e.trace.clone()).collect();
            let weaknesses = match self.miner.mine(self.backend, &traces, &instructions) {
                Ok(w) => w,
                Err(error) => {
                    self.emit(RunEvent::StageFailed {
                        generation,
                        stage: "miner".into(),
                        error,
                    })?;
                    self.emit(RunEvent::NoAdvance { generation })?;
                    idle += 1;
                    if idle >= self.cfg.plateau {
                        reason = format!("plateau: no accepted edit for {idle} generations");
                        break;
                    }
                    continue;
                }
            };
            mine.record("weaknesses", weaknesses.len());
            drop(mine);
            self.emit(RunEvent::Mined {
                generation,
                weaknesses: weaknesses.clone(),
            })?;
            let propose = tracing::info_span!("propose", k = self.cfg.k).entered();
            // Propose.
            let resp = self.proposer.propose(&ProposeRequest {
                champion: &champion,
                weaknesses: &weaknesses,
                policy: &self.policy,
                k: self.cfg.k,
                tried: &tried,
            });
            let records = resp
                .proposals
                .iter()
                .map(|p| ProposalRecord {
                    id: p.id.clone(),
                    harness_id: p.harness.id(),
                    patch: p.patch.clone(),
                    strategy: p.strategy.clone(),
                })
                .collect();
            self.emit(RunEvent::Proposed {
                generation,
                proposals: records,
                rejected: resp.rejected.clone(),
            })?;
            drop(propose);
            // Validate every proposal against the champion, side by side.
            let cands: Vec<(Arc<Harness>, Vec<String>)> = resp
                .proposals
                .iter()
                .map(|p| {
                    tried.insert(p.harness.id());
                    let mut cand = p.harness.clone();
                    cand.generation = generation;
                    (Arc::new(cand), p.patch.targets.clone())
                })
                .collect();
            let decisions = self.validate_many(&champion, &cands)?;
            let mut accepted: Vec<(selfharness_proposer::Proposal, Decision)> = Vec::new();
            for (p, decision) in resp.proposals.into_iter().zip(decisions) {
                self.emit(RunEvent::Decided {
                    generation,
                    proposal: p.id.clone(),
                    decision: decision.clone(),
                })?;
                if decision.accepted {
                    accepted.push((p, decision));
                }
            }
            if accepted.is_empty() {
                self.emit(RunEvent::NoAdvance { generation })?;
                idle += 1;
                if idle >= self.cfg.plateau {
                    reason = format!("plateau: no accepted edit for {idle} generations");
                    break;
                }
                if let Some(r) = self.budget_stop() {
                    reason = r;
                    break;
                }
                continue;
            }
            idle = 0;
            // Compose in the proposer's order (ranked by the impact of the weakness each edit
            // targets), one edit per weakness (two accepted fixes of the same weakness would
            // make one of them dead weight); re-validate a composition of more than one edit.
            // Not by the tests' b − c: early stopping leaves those partial, and the champion
            // must not depend on whether the tests stopped early.
            let compose = tracing::info_span!("compose", accepted = accepted.len()).entered();
            let mut composed = (*champion).clone();
            let mut used = Vec::new();
            let mut covered = BTreeSet::new();
            for (p, _) in &accepted {
                let targets = &p.patch.targets;
                if !targets.is_empty() && targets.iter().all(|t| covered.contains(t)) {
                    continue;
                }
                if let Ok(h) = p.patch.apply(&composed, &self.policy) {
                    composed = h;
                    used.push(p.id.clone());
                    covered.extend(targets.iter().cloned());
                }
            }
            composed.parent = Some(champion.id());
            composed.generation = generation;
            composed.name = format!("gen-{generation}");
            let mut next = Arc::new(composed);
            let mut decision = None;
            if used.len() > 1 {
                tried.insert(next.id());
                let targets = accepted
                    .iter()
                    .filter(|(p, _)| used.contains(&p.id))
                    .flat_map(|(p, _)| p.patch.targets.iter().cloned())
                    .collect();
                let d = self
                    .validate_many(&champion, &[(next.clone(), targets)])?
                    .remove(0);
                if !d.accepted {
                    let (best, _) = &accepted[0];
                    let mut h = best.harness.clone();
                    h.parent = Some(champion.id());
                    h.generation = generation;
                    h.name = format!("gen-{generation}");
                    next = Arc::new(h);
                    used = vec![best.id.clone()];
                }
                decision = Some(d);
            }
            self.emit(RunEvent::Composed {
                generation,
                harness_id: next.id(),
                proposals: used.clone(),
                decision,
            })?;
            drop(compose);
            let scoring = tracing::info_span!("score", harness = %next.id()).entered();
            let validation = self.score(&next, Split::Validation, self.cfg.val_trials)?;
            drop(scoring);
            save_harness(&self.run_dir, &next)?;
            lineage.extend(
                accepted
                    .iter()
                    .filter(|(p, _)| used.contains(&p.id))
                    .map(|(p, _)| (p.id.clone(), p.patch.clone())),
            );
            self.emit(RunEvent::Advanced {
                generation,
                champion: (*next).clone(),
                accepted: used,
                validation,
            })?;
            champion = next;
        }
        self.emit(RunEvent::Stopped {
            reason: reason.clone(),
        })?;
        // The run is over: now, and only now, the test split is unsealed.
        self.sealed = false;
        let scoring =
            tracing::info_span!("score", harness = %champion.id(), baseline = %baseline.id())
                .entered();
        let (v, t) = (self.cfg.val_trials, self.cfg.test_trials);
        let scores = self.score_all(&[
            (baseline.clone(), Split::Validation, v),
            (baseline.clone(), Split::Test, t),
            (champion.clone(), Split::Validation, v),
            (champion.clone(), Split::Test, t),
        ])?;
        for score in scores {
            self.emit(RunEvent::Scored { score })?;
        }
        drop(scoring);
        if self.cfg.ablation {
            self.ablate(&champion, &lineage)?;
        }
        let (evaluations, tokens) = {
            let s = lock(&self.store);
            (s.evals_run, s.tokens)
        };
        self.emit(RunEvent::Finished {
            champion: champion.id(),
            reason: reason.clone(),
            evaluations,
            tokens,
        })?;
        // The traces the report cites must be readable from the run directory (a backend may
        // fetch them lazily): ask the backend for each before writing the report.
        let data = report::load(&self.log_path()).map_err(Error::Log)?;
        for key in data.cited_traces().keys() {
            let file = data.trace_file(key);
            if report::safe_name(&file) {
                let _ = self.backend.trace_path(&file);
            }
        }
        report::write_data(&self.run_dir, &data).map_err(Error::Log)?;
        Ok(RunOutcome {
            champion: (*champion).clone(),
            reason,
            run_dir: self.run_dir.clone(),
        })
    }

    /// Effect of each accepted edit in the final champion: champion minus champion-without-it,
    /// on the validation split (all the ablated harnesses evaluated at once).
    fn ablate(
        &mut self,
        champion: &Arc<Harness>,
        lineage: &[(String, HarnessPatch)],
    ) -> Result<()> {
        let _ablate = tracing::info_span!("ablate", edits = lineage.len()).entered();
        let mut what = vec![(champion.clone(), Split::Validation, self.cfg.val_trials)];
        for i in 0..lineage.len() {
            let mut h = self.baseline.clone();
            for (j, (_, p)) in lineage.iter().enumerate() {
                if i != j {
                    if let Ok(n) = p.apply(&h, &self.policy) {
                        h = n;
                    }
                }
            }
            what.push((Arc::new(h), Split::Validation, self.cfg.val_trials));
        }
        let scores = self.score_all(&what)?;
        let rate = |s: &SplitScore| f64::from(s.passed) / f64::from(s.total.max(1));
        for ((id, _), s) in lineage.iter().zip(&scores[1..]) {
            self.emit(RunEvent::Ablated {
                proposal: id.clone(),
                without: s.harness_id.clone(),
                effect: rate(&scores[0]) - rate(s),
            })?;
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Evaluator<'_> {
    /// Evaluate `jobs` (all of `split`) in one parallel batch, skipping cached ones; every new
    /// result is logged as it lands and counted once, however often it is reported.
    fn run(&self, jobs: Vec<EvalJob>, split: Split) -> Result<Vec<Evaluation>> {
        if split == Split::Test && self.sealed {
            return Err(Error::Sealed(jobs.len()));
        }
        let model = self.backend.model_id();
        let keys: Vec<String> = jobs
            .iter()
            .map(|j| eval_key(&j.harness.id(), &j.task.id, &model, j.trial, j.seed))
            .collect();
        let missing: Vec<EvalJob> = {
            let store = lock(self.store);
            let mut seen = BTreeSet::new();
            jobs.iter()
                .zip(&keys)
                .filter(|(_, k)| !store.cache.contains_key(*k) && seen.insert((*k).clone()))
                .map(|(j, _)| j.clone())
                .collect()
        };
        if !missing.is_empty() {
            let failed = Mutex::new(None);
            let results = self.backend.evaluate(missing, &|ev| {
                let event = RunEvent::Evaluated {
                    evaluation: ev.clone(),
                };
                let mut log = lock(self.log);
                let logged = log.as_mut().expect("log opened").emit(&event);
                if let Ok(Some(seq)) = logged {
                    (self.on_logged)(seq, &event);
                }
                drop(log);
                match logged {
                    Err(e) => *lock(&failed) = Some(e),
                    Ok(Some(_)) => (self.on_eval)(ev),
                    Ok(None) => {}
                }
            });
            if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
                return Err(e.into());
            }
            let mut store = lock(self.store);
            for ev in results {
                if !store.cache.contains_key(&ev.key) {
                    store.evals_run += 1;
                    store.tokens += ev.usage.prompt_tokens + ev.usage.completion_tokens;
                    store.cache.insert(ev.key.clone(), ev);
                }
            }
        }
        let store = lock(self.store);
        Ok(keys.iter().map(|k| store.cache[k].clone()).collect())
    }

    fn budget_stop(&self) -> Option<String> {
        if let Some(why) = lock(self.cancel).as_ref() {
            return Some(format!("cancelled: {why}"));
        }
        let c = self.cfg;
        let (evals_run, tokens) = {
            let s = lock(self.store);
            (s.evals_run, s.tokens)
        };
        let dollars = tokens as f64 / 1e6 * c.price_per_mtok;
        if c.max_evals > 0 && evals_run >= c.max_evals {
            return Some(format!(
                "budget: {evals_run} evaluations reached the cap of {}",
                c.max_evals
            ));
        }
        if c.max_tokens > 0 && tokens >= c.max_tokens {
            return Some(format!(
                "budget: {tokens} tokens reached the cap of {}",
                c.max_tokens
            ));
        }
        if c.max_dollars > 0.0 && dollars >= c.max_dollars {
            return Some(format!(
                "budget: ${dollars:.2} reached the cap of ${:.2}",
                c.max_dollars
            ));
        }
        if c.max_wall_secs > 0 && self.started.elapsed().as_secs() >= c.max_wall_secs {
            return Some(format!(
                "budget: wall time reached the cap of {}s",
                c.max_wall_secs
            ));
        }
        None
    }
}

fn save_harness(dir: &std::path::Path, h: &Harness) -> Result<()> {
    let d = dir.join("harnesses");
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(format!("{}.toml", h.id())), h.to_toml())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NeverCalled;
    impl Backend for NeverCalled {
        fn model_id(&self) -> String {
            "m".into()
        }
        fn evaluate(&self, _: Vec<EvalJob>, _: &(dyn Fn(&Evaluation) + Sync)) -> Vec<Evaluation> {
            panic!("a sealed test evaluation reached the backend")
        }
        fn trace_path(&self, n: &str) -> PathBuf {
            PathBuf::from(n)
        }
    }

    #[test]
    fn test_split_is_refused_before_the_run_ends() {
        let suite =
            Suite::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tasks")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let backend = NeverCalled;
        let mut c = Coordinator::new(
            RunConfig::default(),
            suite,
            Policy::default(),
            Harness::builtin_default(),
            &backend,
            dir.path().to_path_buf(),
        );
        let h = Arc::new(Harness::builtin_default());
        let tasks = c.tasks(Split::Test);
        assert!(!tasks.is_empty());
        match c.evaluate(&h, &tasks, 1, Split::Test) {
            Err(Error::Sealed(n)) => assert_eq!(n, tasks.len()),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn alpha_is_split_over_every_test() {
        let c = RunConfig {
            alpha: 0.05,
            generations: 5,
            k: 4,
            ..RunConfig::default()
        };
        assert!((c.alpha_per_test() - 0.002).abs() < 1e-12);
    }
}
