//! Miner: reads the traces of the champion's evaluations and returns *weaknesses* — clusters of
//! failed episodes sharing a signature (failure kind, tool, normalised error) — each with its
//! evidence (trace ids and step numbers), how many failed episodes it explains and on how many
//! tasks, ranked by impact. A request → response function over domain values; it never runs
//! anything and never reads the test split (the coordinator only hands it train traces).

use selfharness_core::agent::named_paths;
use selfharness_core::trace::{EndReason, Trace};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A recurring failure pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weakness {
    /// `w-` + hash of the signature: stable across generations.
    pub id: String,
    /// Failure kind, e.g. `ignored_failure`, `command_timeout`.
    pub kind: String,
    /// Tool at fault (`bash`, `write_file`, `done`, …).
    pub tool: String,
    /// Normalised error: numbers, paths and quoted strings replaced by placeholders.
    pub error: String,
    /// Human name (derived from the signature unless a model named it).
    pub name: String,
    /// Failed episodes this weakness appears in.
    pub failures: u32,
    /// Distinct tasks among them.
    pub tasks: u32,
    /// Where in the episode: mean step position as a fraction of the episode (0 = first step).
    pub position: f64,
    /// (trace id, step number) pairs, at most [`MAX_EVIDENCE`].
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub trace: String,
    pub task: String,
    pub step: u32,
    pub excerpt: String,
}

pub const MAX_EVIDENCE: usize = 12;

/// What the miner is given: failed-or-passed traces plus each task's instruction.
pub struct MineRequest<'a> {
    pub traces: &'a [Trace],
    /// Task id → instruction text (to tell a mistyped output path from a named one).
    pub instructions: &'a BTreeMap<String, String>,
}

/// The last `n` bytes of `s`, widened to the start of the character they cut through.
fn tail(s: &str, n: usize) -> &str {
    let mut at = s.len().saturating_sub(n);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    &s[at..]
}

/// Replace numbers, paths and quoted strings so that errors differing only in them cluster.
pub fn normalise(s: &str) -> String {
    let line = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let re_q = regex_lite(r#""[^"]*"|'[^']*'"#);
    let re_p = regex_lite(r"(/[A-Za-z0-9._\-]+)+/?");
    let re_n = regex_lite(r"\d+");
    let out = re_q.replace_all(line, "<str>");
    let out = re_p.replace_all(&out, "<path>");
    let out = re_n.replace_all(&out, "<n>");
    out.chars().take(160).collect()
}

fn regex_lite(p: &str) -> regex::Regex {
    regex::Regex::new(p).expect("static regex")
}

const DESTRUCTIVE: &str = r"\brm\s+-[a-zA-Z]*r|\bmkfs\b|\bdd\s+if=.*of=/|>\s*/dev/sd|\bgit\s+clean\s+-[a-z]*f|\bgit\s+reset\s+--hard";

/// Signatures found in one failed episode: (kind, tool, error, step).
fn signatures(t: &Trace, instruction: &str) -> Vec<(String, String, String, u32)> {
    let mut out = Vec::new();
    let last = t.steps.last();
    let last_tool = last
        .and_then(|s| s.tool.clone())
        .unwrap_or_else(|| "model".into());
    let last_turn = last.map_or(0, |s| s.turn);
    match t.end {
        EndReason::Done => {}
        EndReason::MalformedReply | EndReason::NoToolCall | EndReason::ModelError => {
            let err = last
                .and_then(|s| s.error.clone())
                .unwrap_or_else(|| t.end_detail.clone());
            out.push((
                t.end.as_str().to_string(),
                last_tool,
                normalise(&err),
                last_turn,
            ));
        }
        other => out.push((
            other.as_str().to_string(),
            last_tool,
            normalise(&t.end_detail),
            last_turn,
        )),
    }
    let destructive = regex_lite(DESTRUCTIVE);
    let named = named_paths(instruction);
    for (i, s) in t.steps.iter().enumerate() {
        let args: serde_json::Value = s
            .arguments
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default();
        match s.tool.as_deref() {
            Some("bash") => {
                let cmd = args["command"].as_str().unwrap_or("");
                let blocked = s.verdicts.iter().any(|v| v.outcome == "blocked");
                if destructive.is_match(cmd) && !blocked {
                    out.push((
                        "destructive_command".into(),
                        "bash".into(),
                        normalise(cmd),
                        s.turn,
                    ));
                }
                let failed = matches!(s.exit_code, Some(c) if c != 0);
                // A failure is "ignored" when no later step runs the same command successfully.
                let repaired = t.steps[i + 1..].iter().any(|n| {
                    n.tool.as_deref() == Some("bash")
                        && n.exit_code == Some(0)
                        && n.arguments.as_deref().is_some_and(|a| {
                            cmd.len() > 8 && a.contains(&tail(cmd, 8).replace('"', "\\\""))
                        })
                });
                if failed && !repaired && !s.timed_out {
                    let err = s
                        .observation
                        .lines()
                        .find(|l| {
                            !l.starts_with("exit_code") && !l.trim().is_empty() && *l != "[stderr]"
                        })
                        .unwrap_or("");
                    out.push((
                        "ignored_failure".into(),
                        "bash".into(),
                        normalise(err),
                        s.turn,
                    ));
                }
            }
            Some("write_file") => {
                let path = args["path"].as_str().unwrap_or("");
                // A write the harness already flagged is handled: the model was told.
                let flagged = s.verdicts.iter().any(|v| v.outcome == "fail");
                // A call whose arguments never parsed wrote nothing (malformed_reply covers it).
                if !named.is_empty()
                    && !path.is_empty()
                    && !flagged
                    && !named.iter().any(|p| p == path)
                    && !t.steps[i + 1..]
                        .iter()
                        .any(|n| n.arguments.as_deref().is_some_and(|a| a.contains(path)))
                {
                    out.push((
                        "unnamed_write_path".into(),
                        "write_file".into(),
                        "wrote a file the task never names and never used it".into(),
                        s.turn,
                    ));
                }
            }
            _ => {}
        }
    }
    if t.end == EndReason::Done && out.is_empty() {
        out.push((
            "premature_done".into(),
            "done".into(),
            "declared done but the verifier failed".into(),
            last_turn,
        ));
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
    out
}

fn weakness_id(kind: &str, tool: &str, error: &str) -> String {
    format!(
        "w-{:08x}",
        selfharness_core::rng::hash_str(&format!("{kind}|{tool}|{error}")) as u32
    )
}

/// The ids of the weaknesses one failed episode shows (empty for a passed one). Lets a
/// caller find, among other traces, the episodes a weakness's fix is aimed at.
pub fn weaknesses_of(t: &Trace, instruction: &str) -> Vec<String> {
    if !t.reward.is_some_and(|r| r < 1.0) {
        return Vec::new();
    }
    signatures(t, instruction)
        .into_iter()
        .map(|(kind, tool, error, _)| weakness_id(&kind, &tool, &error))
        .collect()
}

fn derived_name(kind: &str, tool: &str) -> String {
    match kind {
        "ignored_failure" => "carries on after a failed command".into(),
        "unnamed_write_path" => "writes output to a path the task never names".into(),
        "premature_done" => "declares done before the task is complete".into(),
        "command_timeout" => "runs a command that never finishes".into(),
        "context_overflow" => "floods its context with output".into(),
        "destructive_command" => "runs a destructive command".into(),
        "malformed_reply" => "sends malformed tool calls".into(),
        "no_tool_call" => "replies without calling a tool".into(),
        other => format!("{other} in {tool}"),
    }
}

/// Mine weaknesses from traces: failed episodes only, clustered by signature, ranked by the
/// number of failed episodes explained, then tasks, then id (deterministic).
pub fn mine(req: &MineRequest) -> Vec<Weakness> {
    #[derive(Default)]
    struct Acc {
        failures: u32,
        tasks: std::collections::BTreeSet<String>,
        pos: f64,
        evidence: Vec<Evidence>,
    }
    let mut clusters: BTreeMap<(String, String, String), Acc> = BTreeMap::new();
    let empty = String::new();
    for t in req
        .traces
        .iter()
        .filter(|t| t.reward.is_some_and(|r| r < 1.0))
    {
        let instruction = req.instructions.get(&t.task_id).unwrap_or(&empty);
        for (kind, tool, error, step) in signatures(t, instruction) {
            let acc = clusters.entry((kind, tool, error)).or_default();
            acc.failures += 1;
            acc.tasks.insert(t.task_id.clone());
            acc.pos += f64::from(step.saturating_sub(1)) / (t.steps.len().max(1) as f64);
            if acc.evidence.len() < MAX_EVIDENCE {
                let excerpt = t
                    .steps
                    .iter()
                    .find(|s| s.turn == step)
                    .map(|s| s.observation.chars().take(200).collect())
                    .unwrap_or_default();
                acc.evidence.push(Evidence {
                    trace: t.id.clone(),
                    task: t.task_id.clone(),
                    step,
                    excerpt,
                });
            }
        }
    }
    let mut out: Vec<Weakness> = clusters
        .into_iter()
        .map(|((kind, tool, error), a)| Weakness {
            id: weakness_id(&kind, &tool, &error),
            name: derived_name(&kind, &tool),
            position: a.pos / f64::from(a.failures.max(1)),
            failures: a.failures,
            tasks: a.tasks.len() as u32,
            evidence: a.evidence,
            kind,
            tool,
            error,
        })
        .collect();
    out.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then(b.tasks.cmp(&a.tasks))
            .then(a.id.cmp(&b.id))
    });
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_command_tail_never_cuts_a_character() {
        assert_eq!(super::tail("echo héllo wörld", 8), "o wörld");
        assert_eq!(super::tail("abcé", 1), "é");
        assert_eq!(super::tail("ascii only tail", 8), "nly tail");
        assert_eq!(super::tail("ab", 8), "ab");
        assert_eq!(super::tail("é", 1), "é");
    }

    use super::*;
    use selfharness_core::model::Usage;
    use selfharness_core::trace::Step;

    fn trace(id: &str, task: &str, end: EndReason, steps: Vec<Step>, reward: f64) -> Trace {
        Trace {
            id: id.into(),
            task_id: task.into(),
            harness_id: "h".into(),
            model_id: "m".into(),
            trial: 0,
            seed: 0,
            steps,
            end,
            end_detail: "command ran past the 10s limit: tail -f /dev/null".into(),
            reward: Some(reward),
            verifier_output: String::new(),
            usage: Usage::default(),
            wall_ms: 0,
        }
    }

    fn bash(turn: u32, cmd: &str, exit: i32, obs: &str) -> Step {
        Step {
            turn,
            tool: Some("bash".into()),
            arguments: Some(serde_json::json!({"command": cmd}).to_string()),
            exit_code: Some(exit),
            observation: obs.into(),
            ..Step::default()
        }
    }

    #[test]
    fn normalise_clusters_paths_numbers_and_strings() {
        assert_eq!(
            normalise("cd: /app/wrk: No such file or directory"),
            normalise("cd: /app/other: No such file or directory")
        );
        assert_eq!(
            normalise("exceeds 48213 tokens 'x'"),
            "exceeds <n> tokens <str>"
        );
    }

    #[test]
    fn recurring_failures_cluster_and_rank_by_impact() {
        let ignored = |id: &str, task: &str| {
            trace(
                id,
                task,
                EndReason::Done,
                vec![
                    bash(
                        1,
                        "cd /app/wrk && sort x",
                        1,
                        "exit_code: 1\n[stderr]\nbash: cd: /app/wrk: No such file or directory",
                    ),
                    bash(2, "echo ok", 0, ""),
                ],
                0.0,
            )
        };
        let hung = |id: &str| {
            trace(
                id,
                "t9",
                EndReason::CommandTimeout,
                vec![bash(1, "tail -f /dev/null", 0, "")],
                0.0,
            )
        };
        let traces = vec![
            ignored("a", "t1"),
            ignored("b", "t2"),
            ignored("c", "t2"),
            hung("d"),
            trace("e", "t3", EndReason::Done, vec![], 1.0),
        ];
        let w = mine(&MineRequest {
            traces: &traces,
            instructions: &BTreeMap::new(),
        });
        assert_eq!(w[0].kind, "ignored_failure");
        assert_eq!((w[0].failures, w[0].tasks), (3, 2));
        assert_eq!(w[0].evidence.len(), 3);
        assert_eq!(w[0].evidence[0].step, 1);
        assert_eq!(w[1].kind, "command_timeout");
        assert!(
            w.iter().all(|x| x.evidence.iter().all(|e| e.trace != "e")),
            "passed episodes are not evidence"
        );
    }

    #[test]
    fn blocked_destructive_command_is_not_a_weakness() {
        let mut s = bash(1, "rm -rf /app/*", 0, "");
        s.exit_code = None;
        s.verdicts.push(selfharness_core::trace::Verdict {
            wrapper: "deny_pattern".into(),
            outcome: "blocked".into(),
            message: String::new(),
        });
        let t = trace("a", "t", EndReason::Done, vec![s], 0.0);
        let w = mine(&MineRequest {
            traces: &[t],
            instructions: &BTreeMap::new(),
        });
        assert!(w.iter().all(|x| x.kind != "destructive_command"), "{w:?}");
    }

    #[test]
    fn unnamed_write_is_a_weakness_until_the_harness_flags_it() {
        let write = |flagged: bool| {
            let mut s = Step {
                turn: 1,
                tool: Some("write_file".into()),
                arguments: Some(
                    serde_json::json!({"path": "/app/otuput.txt", "content": "x"}).to_string(),
                ),
                ..Step::default()
            };
            if flagged {
                s.verdicts.push(selfharness_core::trace::Verdict {
                    wrapper: "verify_file_written".into(),
                    outcome: "fail".into(),
                    message: String::new(),
                });
            }
            trace("a", "t", EndReason::Done, vec![s], 0.0)
        };
        let instructions = BTreeMap::from([("t".to_string(), "Write /app/output.txt".to_string())]);
        let kinds = |t: Trace| -> Vec<String> {
            mine(&MineRequest {
                traces: &[t],
                instructions: &instructions,
            })
            .into_iter()
            .map(|w| w.kind)
            .collect()
        };
        assert_eq!(kinds(write(false)), ["unnamed_write_path"]);
        assert_eq!(kinds(write(true)), ["premature_done"]);
    }
}
