//! Agent: the loop that runs one task with one harness and one model in one sandbox. Tools
//! `bash`, `read_file`, `write_file`, `done`; wrappers and validation steps applied
//! mechanically; the retry policy honoured; hard limits end the episode. Everything is
//! recorded as [`Step`]s. The agent never runs the verifier (that is `eval`'s job) and never
//! interprets prompt wording.
//!
//! Harness feedback reaches the model as text with one machine-readable line each:
//! `<harness verdict="KIND">…</harness>` (a wrapper spoke), `<harness check="KIND"
//! status="fail">…</harness>` (a validation step refused `done`), `<harness retry="REASON">…
//! </harness>` (the retry policy asks again).

use crate::harness::{Check, Harness, RetryOn, Wrapper};
use crate::model::{
    estimate_tokens, ChatRequest, FunctionSpec, Message, Model, Role, ToolCall, ToolSpec, Usage,
};
use crate::sandbox::{ExecResult, Sandbox};
use crate::task::Task;
use crate::trace::{CheckResult, EndReason, Step, Verdict, TRACE_OBSERVATION_CAP};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What the agent loop produced (the verifier has not run yet).
#[derive(Debug, Clone)]
pub struct AgentRun {
    pub steps: Vec<Step>,
    pub end: EndReason,
    pub end_detail: String,
    pub usage: Usage,
}

pub fn tool_specs() -> Vec<ToolSpec> {
    let f = |name: &str, description: &str, parameters: Value| ToolSpec {
        kind: "function".into(),
        function: FunctionSpec {
            name: name.into(),
            description: description.into(),
            parameters,
        },
    };
    vec![
        f(
            "bash",
            "Run a bash command in /app and return its exit code and output.",
            json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}),
        ),
        f(
            "read_file",
            "Read a file.",
            json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        ),
        f(
            "write_file",
            "Write (create or replace) a file with the given content.",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]}),
        ),
        f(
            "done",
            "Declare the task finished.",
            json!({"type": "object", "properties": {"summary": {"type": "string"}}}),
        ),
    ]
}

/// A parsed tool call.
#[derive(Debug)]
enum Call {
    Bash(String),
    Read(String),
    Write(String, String),
    Done,
    Unknown(String),
}

/// Parse a tool call's arguments; `Err` names what is malformed.
fn parse_call(c: &ToolCall) -> Result<Call, String> {
    let name = c.function.name.as_str();
    let raw = if c.function.arguments.trim().is_empty() {
        "{}"
    } else {
        c.function.arguments.as_str()
    };
    let args: Value = serde_json::from_str(raw)
        .map_err(|e| format!("arguments of {name} are not valid JSON: {e}"))?;
    let obj = args
        .as_object()
        .ok_or_else(|| format!("arguments of {name} must be a JSON object"))?;
    let field = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| format!("{name}: missing string field `{k}`"))
    };
    Ok(match name {
        "bash" => Call::Bash(field("command")?),
        "read_file" => Call::Read(field("path")?),
        "write_file" => Call::Write(field("path")?, field("content")?),
        "done" => Call::Done,
        other => Call::Unknown(other.to_string()),
    })
}

fn marker_verdict(v: &Verdict) -> String {
    format!("<harness verdict=\"{}\">{}</harness>", v.wrapper, v.message)
}

fn format_exec(r: &ExecResult) -> String {
    let mut s = match r.exit_code {
        Some(c) => format!("exit_code: {c}\n"),
        None if r.timed_out => "exit_code: none (killed: timed out)\n".to_string(),
        None => "exit_code: none (killed by a signal)\n".to_string(),
    };
    if !r.stdout.is_empty() {
        s.push_str(&r.stdout);
        if !r.stdout.ends_with('\n') {
            s.push('\n');
        }
    }
    if !r.stderr.is_empty() {
        s.push_str("[stderr]\n");
        s.push_str(&r.stderr);
    }
    if r.stdout_bytes > r.stdout.len() {
        s.push_str(&format!(
            "\n[output capped by the sandbox: {} of {} bytes shown]\n",
            r.stdout.len(),
            r.stdout_bytes
        ));
    }
    s
}

/// Keep the head and tail of `s` within `max` bytes.
pub fn truncate_middle(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let half = max / 2;
    let mut a = half;
    while !s.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = s.len() - half;
    while !s.is_char_boundary(b) {
        b += 1;
    }
    format!(
        "{}\n[... {} bytes omitted ...]\n{}",
        &s[..a],
        s.len() - a - (s.len() - b),
        &s[b..]
    )
}

/// Absolute `/app/...` paths an instruction names (trailing punctuation removed).
pub fn named_paths(instruction: &str) -> Vec<String> {
    let re = regex::Regex::new(r"/app/[A-Za-z0-9._/\-]+").expect("static regex");
    let mut v: Vec<String> = re
        .find_iter(instruction)
        .map(|m| {
            m.as_str()
                .trim_end_matches(['.', ',', ':', ';', ')'])
                .to_string()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn normalise_path(p: &str) -> Result<String, String> {
    let abs = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/app/{p}")
    };
    if abs.split('/').any(|s| s == "..") {
        return Err(format!("path {p:?} may not contain '..'"));
    }
    Ok(abs)
}

struct Loop<'a> {
    task: &'a Task,
    harness: &'a Harness,
    sandbox: &'a Sandbox,
    done_calls: u32,
    rounds_used: u32,
}

/// Outcome of executing one call: the observation and whether the episode must end.
struct Executed {
    observation: String,
    ends: Option<(EndReason, String)>,
}

impl Loop<'_> {
    fn bash(&self, command: &str, step: &mut Step) -> Executed {
        let h = self.harness;
        for w in &h.wrappers {
            if let Wrapper::DenyPattern { patterns } = w {
                if let Some(p) = patterns
                    .iter()
                    .find(|p| regex::Regex::new(p).is_ok_and(|r| r.is_match(command)))
                {
                    let v = Verdict {
                        wrapper: w.kind().into(),
                        outcome: "blocked".into(),
                        message: format!(
                            "command refused: it matches the deny pattern {p:?}; it was not run"
                        ),
                    };
                    let obs = marker_verdict(&v);
                    step.verdicts.push(v);
                    return Executed {
                        observation: obs,
                        ends: None,
                    };
                }
            }
        }
        let limit = h.limits.command_timeout_sec;
        let guard = h.wrappers.iter().find_map(|w| match w {
            Wrapper::TimeoutGuard { timeout_sec } => Some((*timeout_sec).min(limit)),
            _ => None,
        });
        let timeout = Duration::from_secs(guard.unwrap_or(limit));
        let r = match self.sandbox.exec(command, timeout) {
            Ok(r) => r,
            Err(e) => {
                return Executed {
                    observation: format!("error: {e}"),
                    ends: None,
                }
            }
        };
        step.exit_code = r.exit_code;
        step.timed_out = r.timed_out;
        let mut obs = format_exec(&r);
        if r.timed_out {
            match guard {
                Some(t) => step.verdicts.push(Verdict {
                    wrapper: "timeout_guard".into(),
                    outcome: "timeout".into(),
                    message: format!("the command did not finish within {t}s and was killed; do not run commands that wait forever"),
                }),
                None => return Executed { observation: obs, ends: Some((EndReason::CommandTimeout, format!("command ran past the {limit}s limit: {}", first_line(command)))) },
            }
        } else if r.exit_code != Some(0) && h.wrapper("fail_on_nonzero_exit").is_some() {
            step.verdicts.push(Verdict {
                wrapper: "fail_on_nonzero_exit".into(),
                outcome: "fail".into(),
                message: format!(
                    "the command failed with exit code {}; fix it before going on",
                    r.exit_code.map_or("none".into(), |c| c.to_string())
                ),
            });
        }
        obs = self.truncate(obs, step);
        for v in &step.verdicts {
            obs.push_str(&marker_verdict(v));
            obs.push('\n');
        }
        Executed {
            observation: obs,
            ends: None,
        }
    }

    fn truncate(&self, obs: String, step: &mut Step) -> String {
        for w in &self.harness.wrappers {
            if let Wrapper::TruncateOutput { max_bytes } = w {
                if obs.len() > *max_bytes {
                    step.verdicts.push(Verdict {
                        wrapper: w.kind().into(),
                        outcome: "truncated".into(),
                        message: format!("output cut from {} to {max_bytes} bytes", obs.len()),
                    });
                    return truncate_middle(&obs, *max_bytes);
                }
            }
        }
        obs
    }

    fn write(&self, path: &str, content: &str, step: &mut Step) -> Executed {
        let path = match normalise_path(path) {
            Ok(p) => p,
            Err(e) => {
                return Executed {
                    observation: format!("error: {e}"),
                    ends: None,
                }
            }
        };
        let verify = self.harness.wrappers.iter().find_map(|w| match w {
            Wrapper::VerifyFileWritten { require_named } => Some(*require_named),
            _ => None,
        });
        let existed = verify.is_some()
            && self
                .sandbox
                .exec(
                    &format!("test -e '{}'", path.replace('\'', "'\\''")),
                    Duration::from_secs(10),
                )
                .is_ok_and(|r| r.ok());
        let r = match self.sandbox.write_file(&path, content) {
            Ok(r) => r,
            Err(e) => {
                return Executed {
                    observation: format!("error: {e}"),
                    ends: None,
                }
            }
        };
        step.exit_code = r.exit_code;
        let mut obs = if r.ok() {
            format!("wrote {} bytes to {path}\n", content.len())
        } else {
            format!("write failed: {}", r.stderr)
        };
        if let (Some(require_named), true) = (verify, r.ok()) {
            let size = self
                .sandbox
                .exec(
                    &format!("stat -c %s '{}'", path.replace('\'', "'\\''")),
                    Duration::from_secs(10),
                )
                .ok()
                .and_then(|r| r.stdout.trim().parse::<usize>().ok());
            let problem = if size != Some(content.len()) {
                Some(format!(
                    "{path} does not hold the {} bytes written (found {size:?})",
                    content.len()
                ))
            } else if require_named
                && !existed
                && !named_paths(&self.task.instruction).contains(&path)
            {
                Some(format!(
                    "{path} is a new file the task never names; check the path for a typo"
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                let v = Verdict {
                    wrapper: "verify_file_written".into(),
                    outcome: "fail".into(),
                    message,
                };
                obs.push_str(&marker_verdict(&v));
                obs.push('\n');
                step.verdicts.push(v);
            }
        }
        Executed {
            observation: obs,
            ends: None,
        }
    }

    fn read(&self, path: &str, step: &mut Step) -> Executed {
        let obs = match normalise_path(path)
            .map_err(|e| e.to_string())
            .and_then(|p| self.sandbox.read_file(&p).map_err(|e| e.to_string()))
        {
            Ok(r) if r.ok() => r.stdout,
            Ok(r) => format!("error: {}", r.stderr.trim()),
            Err(e) => format!("error: {e}"),
        };
        Executed {
            observation: self.truncate(obs, step),
            ends: None,
        }
    }

    fn done(&mut self, step: &mut Step) -> Executed {
        self.done_calls += 1;
        let v = &self.harness.validation;
        if v.checks.is_empty() || self.rounds_used >= v.max_rounds {
            return Executed {
                observation: "done accepted".into(),
                ends: Some((EndReason::Done, String::new())),
            };
        }
        for c in &v.checks {
            let (passed, message) = match c {
                Check::ConfirmDone { message } => (self.done_calls > 1, message.clone()),
                Check::PathsExist => {
                    let missing: Vec<String> = named_paths(&self.task.instruction)
                        .into_iter()
                        .filter(|p| {
                            !self
                                .sandbox
                                .exec(
                                    &format!("test -e '{}'", p.replace('\'', "'\\''")),
                                    Duration::from_secs(10),
                                )
                                .is_ok_and(|r| r.ok())
                        })
                        .collect();
                    (
                        missing.is_empty(),
                        format!(
                            "paths named in the task do not exist: {}",
                            missing.join(", ")
                        ),
                    )
                }
                Check::Command { command } => match self.sandbox.exec(
                    command,
                    Duration::from_secs(self.harness.limits.command_timeout_sec),
                ) {
                    Ok(r) => (
                        r.ok(),
                        format!(
                            "`{command}` failed: {}",
                            truncate_middle(&format_exec(&r), 1000)
                        ),
                    ),
                    Err(e) => (false, format!("`{command}` could not run: {e}")),
                },
            };
            step.checks.push(CheckResult {
                kind: c.kind().into(),
                passed,
                message,
            });
        }
        if step.checks.iter().all(|c| c.passed) {
            return Executed {
                observation: "done accepted".into(),
                ends: Some((EndReason::Done, String::new())),
            };
        }
        self.rounds_used += 1;
        let mut obs = String::from("done refused by validation:\n");
        for c in step.checks.iter().filter(|c| !c.passed) {
            obs.push_str(&format!(
                "<harness check=\"{}\" status=\"fail\">{}</harness>\n",
                c.kind, c.message
            ));
        }
        Executed {
            observation: obs,
            ends: None,
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Run one episode. `seed` goes to the model with every request (the scripted model draws
/// its flaws from it; real models may use it for sampling).
pub fn run_episode(
    task: &Task,
    harness: &Harness,
    model: &dyn Model,
    sandbox: &Sandbox,
    seed: u64,
) -> AgentRun {
    let start = Instant::now();
    let agent_timeout = Duration::from_secs_f64(task.config.agent_timeout_sec);
    let mut messages = vec![
        Message::new(Role::System, harness.system_prompt.clone()),
        Message::new(Role::User, harness.render_instruction(&task.instruction)),
    ];
    let mut lp = Loop {
        task,
        harness,
        sandbox,
        done_calls: 0,
        rounds_used: 0,
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut usage = Usage::default();
    let mut retries_used = 0u32;
    let limits = &harness.limits;
    let may_retry = |on: RetryOn, used: u32| {
        harness.retry.on.contains(&on) && used < harness.retry.max_attempts
    };
    let end = |steps: Vec<Step>, usage: Usage, e: EndReason, d: String| AgentRun {
        steps,
        end: e,
        end_detail: d,
        usage,
    };

    for turn in 1..=limits.max_turns {
        let turn_span = tracing::info_span!("turn", turn, tool = tracing::field::Empty);
        let _turn = turn_span.enter();
        if start.elapsed() > agent_timeout {
            return end(
                steps,
                usage,
                EndReason::AgentTimeout,
                format!("agent timeout of {}s passed", task.config.agent_timeout_sec),
            );
        }
        let context = estimate_tokens(&messages);
        if context > limits.max_context_tokens {
            return end(
                steps,
                usage,
                EndReason::ContextOverflow,
                format!(
                    "conversation of ~{context} tokens exceeds limits.max_context_tokens = {}",
                    limits.max_context_tokens
                ),
            );
        }
        if usage.prompt_tokens + usage.completion_tokens > limits.max_total_tokens {
            return end(
                steps,
                usage,
                EndReason::TokenBudget,
                format!(
                    "episode used more than limits.max_total_tokens = {}",
                    limits.max_total_tokens
                ),
            );
        }
        let req = ChatRequest {
            model: String::new(),
            messages: messages.clone(),
            tools: tool_specs(),
            seed: Some(seed),
            temperature: Some(0.0),
            max_tokens: None,
        };
        let t0 = Instant::now();
        let mut step = Step {
            turn,
            ..Step::default()
        };
        let resp = match model.complete(&req) {
            Ok(r) => r,
            Err(e) => {
                step.model_ms = t0.elapsed().as_millis() as u64;
                step.error = Some(format!("model error: {e}"));
                if may_retry(RetryOn::ModelError, retries_used) {
                    retries_used += 1;
                    step.retry = Some("model_error".into());
                    steps.push(step);
                    continue;
                }
                steps.push(step);
                return end(steps, usage, EndReason::ModelError, e.to_string());
            }
        };
        step.model_ms = t0.elapsed().as_millis() as u64;
        step.usage = resp.usage;
        usage.prompt_tokens += resp.usage.prompt_tokens;
        usage.completion_tokens += resp.usage.completion_tokens;
        let msg = resp.message;
        let Some(call) = msg.tool_calls.first().cloned() else {
            step.error = Some("the reply called no tool".into());
            messages.push(Message::new(Role::Assistant, msg.text().to_string()));
            if may_retry(RetryOn::NoToolCall, retries_used) {
                retries_used += 1;
                step.retry = Some("no_tool_call".into());
                messages.push(Message::new(
                    Role::User,
                    format!(
                        "<harness retry=\"no_tool_call\">{}</harness>",
                        harness.retry.message
                    ),
                ));
                steps.push(step);
                continue;
            }
            steps.push(step);
            return end(
                steps,
                usage,
                EndReason::NoToolCall,
                "the reply called no tool".into(),
            );
        };
        step.tool = Some(call.function.name.clone());
        turn_span.record("tool", call.function.name.as_str());
        step.arguments = Some(call.function.arguments.clone());
        let parsed = match parse_call(&call) {
            Ok(p) => p,
            Err(why) => {
                step.error = Some(why.clone());
                // The unusable call is not echoed back (servers may reject invalid JSON in history).
                messages.push(Message::new(Role::Assistant, msg.text().to_string()));
                if may_retry(RetryOn::MalformedReply, retries_used) {
                    retries_used += 1;
                    step.retry = Some("malformed_reply".into());
                    messages.push(Message::new(
                        Role::User,
                        format!(
                            "<harness retry=\"malformed_reply\">{} ({why})</harness>",
                            harness.retry.message
                        ),
                    ));
                    steps.push(step);
                    continue;
                }
                steps.push(step);
                return end(steps, usage, EndReason::MalformedReply, why);
            }
        };
        let only_call = Message {
            role: Role::Assistant,
            content: msg.content.clone(),
            tool_calls: vec![call.clone()],
            tool_call_id: None,
        };
        messages.push(only_call);
        let t1 = Instant::now();
        let ex = match parsed {
            Call::Bash(c) => lp.bash(&c, &mut step),
            Call::Read(p) => lp.read(&p, &mut step),
            Call::Write(p, c) => lp.write(&p, &c, &mut step),
            Call::Done => lp.done(&mut step),
            Call::Unknown(n) => Executed {
                observation: format!(
                    "error: unknown tool {n:?}; the tools are bash, read_file, write_file, done"
                ),
                ends: None,
            },
        };
        step.tool_ms = t1.elapsed().as_millis() as u64;
        step.observation_bytes = ex.observation.len();
        step.observation = truncate_middle(&ex.observation, TRACE_OBSERVATION_CAP);
        messages.push(Message::tool(&call.id, ex.observation));
        steps.push(step);
        if let Some((reason, detail)) = ex.ends {
            return end(steps, usage, reason, detail);
        }
    }
    end(
        steps,
        usage,
        EndReason::MaxTurns,
        format!("limits.max_turns = {} reached", limits.max_turns),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_paths_strip_punctuation() {
        let p = named_paths("Write `/app/out.txt`. Then read /app/data/in.csv, and /app/out.txt.");
        assert_eq!(p, vec!["/app/data/in.csv", "/app/out.txt"]);
    }

    #[test]
    fn truncate_keeps_head_and_tail() {
        let s = "a".repeat(100) + &"b".repeat(100);
        let t = truncate_middle(&s, 50);
        assert!(t.starts_with("aaaa") && t.ends_with("bbbb") && t.contains("omitted"));
    }

    #[test]
    fn malformed_arguments_are_named() {
        let c = ToolCall {
            id: "1".into(),
            kind: "function".into(),
            function: crate::model::FunctionCall {
                name: "bash".into(),
                arguments: "{\"command\": \"ls".into(),
            },
        };
        let e = parse_call(&c).unwrap_err();
        assert!(e.contains("bash") && e.contains("not valid JSON"), "{e}");
        let c2 = ToolCall {
            function: crate::model::FunctionCall {
                name: "write_file".into(),
                arguments: "{\"path\": \"x\"}".into(),
            },
            ..c
        };
        assert!(parse_call(&c2).unwrap_err().contains("content"));
    }
}
