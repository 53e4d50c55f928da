//! Validator: decides whether a candidate beats the champion on paired evaluations (same
//! validation tasks, same trials, same seeds). The test is an exact one-sided sign test on
//! the discordant pairs (McNemar): b = candidate passed where the champion failed, c = the
//! reverse. Accept iff p ≤ α, b > c, and no task the champion solved in every trial fails in
//! more than `tolerance` candidate trials. The sequential procedure ([`Sequential`]) stops early
//! only by exact curtailment — when no remaining outcome can change the decision — so early
//! stopping never changes a decision; it only saves evaluations. Because of that, the order in
//! which pairs are evaluated may adapt to what has been seen, and does (see
//! [`Sequential::next_batch`]). No transport, no evaluation here: the caller
//! supplies outcomes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One paired comparison point.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pair {
    pub task_id: String,
    pub trial: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValidationConfig {
    /// Significance level of this one test (the run splits its budget across tests).
    pub alpha: f64,
    /// Candidate failures allowed on a task the champion passed in every trial.
    pub tolerance: u32,
    /// Stop as soon as the decision is certain.
    pub early_stop: bool,
    /// Candidate evaluations per step (evaluated in parallel by the caller).
    pub batch: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub accepted: bool,
    pub p_value: f64,
    pub b: u32,
    pub c: u32,
    pub pairs_evaluated: usize,
    pub pairs_planned: usize,
    pub regressions: Vec<String>,
    pub reason: String,
}

/// Exact one-sided sign test: P(X ≥ b) for X ~ Binomial(b + c, 1/2).
pub fn sign_test_p(b: u32, c: u32) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    // Sum in log space for stability.
    let ln_choose = |n: u32, k: u32| -> f64 {
        (1..=k)
            .map(|i| ((n - k + i) as f64).ln() - (i as f64).ln())
            .sum()
    };
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    (b..=n)
        .map(|k| (ln_choose(n, k) + ln_half_n).exp())
        .sum::<f64>()
        .min(1.0)
}

#[derive(Debug, Clone)]
struct Tally {
    reliable: BTreeMap<String, bool>,
    b: u32,
    c: u32,
    fails_on_reliable: BTreeMap<String, u32>,
}

impl Tally {
    fn new(champion: &BTreeMap<Pair, bool>) -> Self {
        let mut reliable: BTreeMap<String, bool> = BTreeMap::new();
        for (p, &ok) in champion {
            let e = reliable.entry(p.task_id.clone()).or_insert(true);
            *e &= ok;
        }
        Tally {
            reliable,
            b: 0,
            c: 0,
            fails_on_reliable: BTreeMap::new(),
        }
    }
    fn add(&mut self, p: &Pair, champ: bool, cand: bool) {
        match (champ, cand) {
            (false, true) => self.b += 1,
            (true, false) => self.c += 1,
            _ => {}
        }
        if !cand && self.reliable[&p.task_id] {
            *self.fails_on_reliable.entry(p.task_id.clone()).or_default() += 1;
        }
    }
    fn regressions(&self, tol: u32) -> Vec<String> {
        self.fails_on_reliable
            .iter()
            .filter(|(_, &n)| n > tol)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

/// One sequential paired test, driven from outside: ask [`Sequential::next_batch`] which pairs
/// to evaluate, hand their outcomes to [`Sequential::record`], until [`Sequential::decision`]
/// is set. Several run side by side so a caller can evaluate many candidates' batches at once.
#[derive(Debug, Clone)]
pub struct Sequential {
    cfg: ValidationConfig,
    champion: BTreeMap<Pair, bool>,
    /// Pairs not yet evaluated that the champion failed (only they can produce b) …
    failed: Vec<Pair>,
    /// … and that it passed (only they can produce c or a regression).
    passed: Vec<Pair>,
    planned: usize,
    done: usize,
    tally: Tally,
    decision: Option<Decision>,
}

impl Sequential {
    /// `champion` holds the champion's outcome on every planned pair.
    pub fn new(champion: BTreeMap<Pair, bool>, cfg: ValidationConfig) -> Self {
        let (passed, failed): (Vec<Pair>, Vec<Pair>) =
            champion.keys().cloned().partition(|p| champion[p]);
        let tally = Tally::new(&champion);
        let mut s = Sequential {
            cfg,
            planned: champion.len(),
            champion,
            failed,
            passed,
            done: 0,
            tally,
            decision: None,
        };
        if s.planned == 0 {
            s.finish_at_end();
        }
        s
    }

    /// Evaluate these champion-failed pairs before the others (e.g. the episodes that show
    /// the weakness the candidate targets, where its gains are likely). Order never changes a
    /// decision, only how soon it is certain.
    pub fn prioritise(mut self, first: &std::collections::BTreeSet<Pair>) -> Self {
        self.failed.sort_by_key(|p| !first.contains(p));
        self
    }

    /// The decision, once there is one.
    pub fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    /// The pairs to evaluate next (empty once decided). The order adapts to what has been
    /// seen, which is safe because only exact curtailment ever stops the test: while the
    /// candidate shows no net gain, champion-failed pairs come first (futility shows soonest);
    /// once it does, champion-passed pairs come first (bounding c lets acceptance become
    /// certain before every champion-failed pair is run).
    pub fn next_batch(&self) -> Vec<Pair> {
        if self.decision.is_some() {
            return Vec::new();
        }
        let n = self.cfg.batch.max(1);
        let (first, second) = if self.tally.b > self.tally.c {
            (&self.passed, &self.failed)
        } else {
            (&self.failed, &self.passed)
        };
        first.iter().chain(second.iter()).take(n).cloned().collect()
    }

    /// Record the candidate's outcomes for the pairs [`Sequential::next_batch`] returned, in
    /// that order; decides when the test is complete or (with early stopping) certain.
    pub fn record(&mut self, outcomes: &[bool]) {
        let batch = self.next_batch();
        assert_eq!(
            batch.len(),
            outcomes.len(),
            "one outcome per pair of the batch"
        );
        for (p, &ok) in batch.iter().zip(outcomes) {
            self.tally.add(p, self.champion[p], ok);
        }
        let ran: std::collections::BTreeSet<&Pair> = batch.iter().collect();
        self.failed.retain(|p| !ran.contains(p));
        self.passed.retain(|p| !ran.contains(p));
        self.done += batch.len();
        if self.done == self.planned {
            self.finish_at_end();
        } else if self.cfg.early_stop {
            self.curtail();
        }
    }

    /// End the test now without a decision in the candidate's favour (e.g. a budget cap).
    pub fn abandon(&mut self, reason: String) {
        if self.decision.is_none() {
            self.finish(false, reason);
        }
    }

    fn finish(&mut self, accepted: bool, reason: String) {
        let t = &self.tally;
        self.decision = Some(Decision {
            accepted,
            p_value: sign_test_p(t.b, t.c),
            b: t.b,
            c: t.c,
            pairs_evaluated: self.done,
            pairs_planned: self.planned,
            regressions: t.regressions(self.cfg.tolerance),
            reason,
        });
    }

    /// Exact curtailment: stop only when no remaining outcome can change the decision.
    fn curtail(&mut self) {
        let (t, cfg) = (&self.tally, &self.cfg);
        let rem_fail = self.failed.len() as u32;
        let rem_pass = self.passed.len() as u32;
        if !t.regressions(cfg.tolerance).is_empty() {
            return self.finish(
                false,
                "a task the champion always solved regressed (decision certain)".into(),
            );
        }
        // Best case for the candidate: every remaining champion-failed pair becomes b and
        // every remaining champion-passed pair stays passed.
        let best_b = t.b + rem_fail;
        if sign_test_p(best_b, t.c) > cfg.alpha || best_b <= t.c {
            return self.finish(
                false,
                "futile: even the best remaining outcomes cannot reach significance".into(),
            );
        }
        // Worst case: no remaining champion-failed pair becomes b, and every remaining
        // champion-passed pair becomes c and regresses its task. (A champion-failed pair can
        // never count against a reliable task: the champion solved those in every trial.)
        let worst_c = t.c + rem_pass;
        let mut worst = t.fails_on_reliable.clone();
        for p in &self.passed {
            if t.reliable[&p.task_id] {
                *worst.entry(p.task_id.clone()).or_default() += 1;
            }
        }
        if sign_test_p(t.b, worst_c) <= cfg.alpha
            && t.b > worst_c
            && worst.values().all(|&n| n <= cfg.tolerance)
        {
            self.finish(
                true,
                "significant whatever the remaining outcomes (decision certain)".into(),
            );
        }
    }

    fn finish_at_end(&mut self) {
        let t = &self.tally;
        let regs = t.regressions(self.cfg.tolerance);
        let p = sign_test_p(t.b, t.c);
        let alpha = self.cfg.alpha;
        let (ok, why) = if !regs.is_empty() {
            (false, format!("regressed on {}", regs.join(", ")))
        } else if p > alpha || t.b <= t.c {
            (
                false,
                format!("not significant: p = {p:.4} > alpha = {alpha:.4}"),
            )
        } else {
            (
                true,
                format!("significant: p = {p:.4} <= alpha = {alpha:.4}"),
            )
        };
        self.finish(ok, why)
    }
}

/// Run one sequential paired test to its decision. `evaluate` returns the candidate's
/// outcomes for a batch of pairs, in order.
pub fn validate(
    champion: &BTreeMap<Pair, bool>,
    cfg: &ValidationConfig,
    evaluate: &mut dyn FnMut(&[Pair]) -> Vec<bool>,
) -> Decision {
    let mut s = Sequential::new(champion.clone(), *cfg);
    loop {
        if let Some(d) = s.decision() {
            return d.clone();
        }
        let batch = s.next_batch();
        let outcomes = evaluate(&batch);
        s.record(&outcomes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sign_test_known_values() {
        assert_eq!(sign_test_p(0, 0), 1.0);
        assert!((sign_test_p(5, 0) - 1.0 / 32.0).abs() < 1e-12);
        assert!((sign_test_p(6, 1) - 8.0 / 128.0).abs() < 1e-12);
        assert!((sign_test_p(0, 3) - 1.0).abs() < 1e-12);
    }

    fn pairs(champ: &[bool], trials: u32) -> BTreeMap<Pair, bool> {
        champ
            .iter()
            .enumerate()
            .map(|(i, &ok)| {
                (
                    Pair {
                        task_id: format!("t{}", i as u32 / trials),
                        trial: i as u32 % trials,
                    },
                    ok,
                )
            })
            .collect()
    }

    fn run(champ: &BTreeMap<Pair, bool>, cand: &BTreeMap<Pair, bool>, early: bool) -> Decision {
        let cfg = ValidationConfig {
            alpha: 0.01,
            tolerance: 0,
            early_stop: early,
            batch: 3,
        };
        validate(champ, &cfg, &mut |b: &[Pair]| {
            b.iter().map(|p| cand[p]).collect()
        })
    }

    #[test]
    fn clear_improvement_is_accepted_and_harmful_edit_rejected_early() {
        let champ = pairs(
            &[false; 20]
                .iter()
                .chain([true; 10].iter())
                .copied()
                .collect::<Vec<_>>(),
            2,
        );
        let better: BTreeMap<_, _> = champ.keys().map(|p| (p.clone(), true)).collect();
        let d = run(&champ, &better, true);
        assert!(d.accepted, "{d:?}");
        let worse: BTreeMap<_, _> = champ.keys().map(|p| (p.clone(), false)).collect();
        let d = run(&champ, &worse, true);
        assert!(!d.accepted && d.pairs_evaluated < d.pairs_planned, "{d:?}");
    }

    #[test]
    fn clear_improvement_is_accepted_before_every_pair_runs() {
        // 40 champion failures, 10 champion passes: once the passes are bounded, enough b's
        // make acceptance certain without the rest of the champion failures.
        let bits: Vec<bool> = [false; 40]
            .iter()
            .chain([true; 10].iter())
            .copied()
            .collect();
        let champ = pairs(&bits, 2);
        let better: BTreeMap<_, _> = champ.keys().map(|p| (p.clone(), true)).collect();
        let d = run(&champ, &better, true);
        assert!(d.accepted, "{d:?}");
        assert!(d.pairs_evaluated < d.pairs_planned, "{d:?}");
        assert_eq!(d.accepted, run(&champ, &better, false).accepted);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Exact curtailment: stopping early never changes the decision.
        #[test]
        fn early_stopping_gives_the_same_decision(champ in proptest::collection::vec(any::<bool>(), 4..60), cand_bits in proptest::collection::vec(proptest::bool::weighted(0.7), 60)) {
            let champ = pairs(&champ, 3);
            let cand: BTreeMap<_, _> = champ.keys().cloned().zip(cand_bits).collect();
            let full = run(&champ, &cand, false);
            let early = run(&champ, &cand, true);
            prop_assert_eq!(full.accepted, early.accepted, "full {:?} early {:?}", full, early);
            prop_assert!(early.pairs_evaluated <= full.pairs_evaluated);
        }

        /// The same for candidates that mostly agree with the champion (real edits: a few
        /// gains, fewer losses), where the adaptive order matters most.
        #[test]
        fn early_stopping_gives_the_same_decision_for_near_champion_candidates(
            champ in proptest::collection::vec(proptest::bool::weighted(0.6), 20..120),
            gain in proptest::collection::vec(proptest::bool::weighted(0.3), 120),
            loss in proptest::collection::vec(proptest::bool::weighted(0.03), 120),
            batch in 1usize..20,
            prio in proptest::collection::vec(any::<bool>(), 120),
        ) {
            let bits = champ.clone();
            let champ = pairs(&champ, 4);
            let cand: BTreeMap<_, _> = champ.keys().cloned().zip(
                bits.iter().enumerate().map(|(i, &c)| if c { !loss[i] } else { gain[i] })
            ).collect();
            let cfg = |early_stop| ValidationConfig { alpha: 0.002, tolerance: 1, early_stop, batch };
            let eval = |c: ValidationConfig| validate(&champ, &c, &mut |b: &[Pair]| b.iter().map(|p| cand[p]).collect());
            let (full, early) = (eval(cfg(false)), eval(cfg(true)));
            prop_assert_eq!(full.accepted, early.accepted, "full {:?} early {:?}", full, early);
            // Any evaluation priority gives the same decision too.
            let first: std::collections::BTreeSet<Pair> = champ.keys().zip(&prio).filter(|(_, &f)| f).map(|(p, _)| p.clone()).collect();
            let mut seq = Sequential::new(champ.clone(), cfg(true)).prioritise(&first);
            while seq.decision().is_none() {
                let outs: Vec<bool> = seq.next_batch().iter().map(|p| cand[p]).collect();
                seq.record(&outs);
            }
            prop_assert_eq!(full.accepted, seq.decision().unwrap().accepted);
        }
    }
}
