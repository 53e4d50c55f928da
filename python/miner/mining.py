"""The mining rules: traces in, weaknesses out. No NATS and no protobuf here.

A subset of the Rust miner's rules (miner/src/lib.rs), written to give the same answer for the
kinds it knows: a failed episode (reward < 1) yields signatures (kind, tool, normalised error,
step); episodes sharing a signature form one weakness, whose id is `w-` + the low 32 bits of
the FNV-1a hash of `kind|tool|error`, as in Rust, so the two miners name a pattern alike.

Kinds found here:
* the episode's end reason when it is not `done` (`command_timeout`, `context_overflow`,
  `malformed_reply`, `no_tool_call`, `model_error`, `max_turns`, ...);
* `ignored_failure`: a bash command failed and no later step ran it successfully;
* `destructive_command`: a destructive bash command ran (no wrapper blocked it);
* `premature_done`: the model called `done`, the verifier failed, and nothing above explains it.

Left out: `unnamed_write_path` (a write to a path the task's instruction never names), so the
request's instructions are not read, and such an episode counts as `premature_done`.

A trace is a dict shaped like the trace JSON that core/src/trace.rs writes.
"""

import json
import re
from dataclasses import dataclass, field

MAX_EVIDENCE = 12
EXCERPT_CHARS = 200
ERROR_CHARS = 160

END_REASONS = {
    "done",
    "max_turns",
    "context_overflow",
    "token_budget",
    "command_timeout",
    "agent_timeout",
    "malformed_reply",
    "no_tool_call",
    "model_error",
}
# End reasons whose detail is the unusable reply's error.
REPLY_ERRORS = {"malformed_reply", "no_tool_call", "model_error"}

NAMES = {
    "ignored_failure": "carries on after a failed command",
    "premature_done": "declares done before the task is complete",
    "command_timeout": "runs a command that never finishes",
    "context_overflow": "floods its context with output",
    "destructive_command": "runs a destructive command",
    "malformed_reply": "sends malformed tool calls",
    "no_tool_call": "replies without calling a tool",
}

_QUOTED = re.compile(r""""[^"]*"|'[^']*'""")
_PATH = re.compile(r"(/[A-Za-z0-9._\-]+)+/?")
_NUMBER = re.compile(r"\d+")
_DESTRUCTIVE = re.compile(
    r"\brm\s+-[a-zA-Z]*r|\bmkfs\b|\bdd\s+if=.*of=/|>\s*/dev/sd"
    r"|\bgit\s+clean\s+-[a-z]*f|\bgit\s+reset\s+--hard"
)


@dataclass
class Evidence:
    trace: str
    task: str
    step: int
    excerpt: str


@dataclass
class Weakness:
    id: str
    kind: str
    tool: str
    error: str
    name: str
    failures: int = 0
    tasks: int = 0
    position: float = 0.0
    evidence: list = field(default_factory=list)


def lines(text):
    """Lines as Rust's `str::lines` gives them."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def normalise(text):
    """First non-blank line, with quoted strings, paths and numbers replaced by placeholders."""
    line = next((l.strip() for l in lines(text) if l.strip()), "")
    line = _QUOTED.sub("<str>", line)
    line = _PATH.sub("<path>", line)
    line = _NUMBER.sub("<n>", line)
    return line[:ERROR_CHARS]


def fnv1a(text):
    """64-bit FNV-1a of the UTF-8 bytes (selfharness_core::rng::hash_str)."""
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def weakness_id(kind, tool, error):
    return f"w-{fnv1a(f'{kind}|{tool}|{error}') & 0xFFFFFFFF:08x}"


def failed(trace):
    reward = trace.get("reward")
    return reward is not None and reward < 1.0


def command_of(step):
    """The `command` argument of a bash call, or "" when the arguments do not parse."""
    try:
        args = json.loads(step.get("arguments") or "")
    except ValueError:
        return ""
    command = args.get("command") if isinstance(args, dict) else None
    return command if isinstance(command, str) else ""


def signatures(trace):
    """(kind, tool, error, step) for each pattern one failed episode shows, one per signature."""
    out = []
    steps = trace.get("steps") or []
    last = steps[-1] if steps else {}
    last_tool = last.get("tool") or "model"
    last_turn = last.get("turn", 0)
    end = trace["end"]
    if end != "done":
        detail = trace.get("end_detail", "")
        if end in REPLY_ERRORS and last.get("error") is not None:
            detail = last["error"]
        out.append((end, last_tool, normalise(detail), last_turn))

    for i, step in enumerate(steps):
        if step.get("tool") != "bash":
            continue
        command = command_of(step)
        blocked = any(v.get("outcome") == "blocked" for v in step.get("verdicts") or [])
        if _DESTRUCTIVE.search(command) and not blocked:
            out.append(("destructive_command", "bash", normalise(command), step["turn"]))
        exit_code = step.get("exit_code")
        # "Repaired" when a later bash step that succeeded carries the command's tail in its
        # arguments (as JSON text, so quotes escaped).
        tail = command[-8:].replace('"', '\\"')
        repaired = len(command) > 8 and any(
            later.get("tool") == "bash"
            and later.get("exit_code") == 0
            and tail in (later.get("arguments") or "")
            for later in steps[i + 1 :]
        )
        if exit_code not in (None, 0) and not repaired and not step.get("timed_out"):
            shown = step.get("observation", "")
            first = next(
                (l for l in lines(shown) if not l.startswith("exit_code") and l.strip() and l != "[stderr]"),
                "",
            )
            out.append(("ignored_failure", "bash", normalise(first), step["turn"]))

    if end == "done" and not out:
        out.append(("premature_done", "done", "declared done but the verifier failed", last_turn))
    # One entry per signature, at its first step.
    out.sort()
    unique = []
    for sig in out:
        if not unique or unique[-1][:3] != sig[:3]:
            unique.append(sig)
    return unique


def mine(traces):
    """Weaknesses of the failed traces, ranked by failed episodes, then tasks, then id."""
    clusters = {}
    tasks = {}
    for trace in filter(failed, traces):
        steps = trace.get("steps") or []
        for kind, tool, error, step in signatures(trace):
            w = clusters.get((kind, tool, error))
            if w is None:
                name = NAMES.get(kind, f"{kind} in {tool}")
                w = clusters[(kind, tool, error)] = Weakness(
                    weakness_id(kind, tool, error), kind, tool, error, name
                )
                tasks[w.id] = set()
            w.failures += 1
            tasks[w.id].add(trace["task_id"])
            w.position += max(step - 1, 0) / max(len(steps), 1)
            if len(w.evidence) < MAX_EVIDENCE:
                shown = next((s.get("observation", "") for s in steps if s.get("turn") == step), "")
                w.evidence.append(Evidence(trace["id"], trace["task_id"], step, shown[:EXCERPT_CHARS]))
    out = list(clusters.values())
    for w in out:
        w.tasks = len(tasks[w.id])
        w.position /= max(w.failures, 1)
    out.sort(key=lambda w: (-w.failures, -w.tasks, w.id))
    return out


def check_trace(trace):
    """Why `trace` (parsed JSON) is not a trace this miner can read, or None."""
    if not isinstance(trace, dict):
        return "not a JSON object"
    for key, kind in (("id", str), ("task_id", str), ("end", str), ("steps", list)):
        if not isinstance(trace.get(key), kind):
            return f"field `{key}`: missing or not a {kind.__name__}"
    if trace["end"] not in END_REASONS:
        return f"field `end`: unknown value {json.dumps(trace['end'])}"
    reward = trace.get("reward")
    if reward is not None and (isinstance(reward, bool) or not isinstance(reward, (int, float))):
        return "field `reward`: not a number"
    for i, step in enumerate(trace["steps"]):
        if not isinstance(step, dict) or not isinstance(step.get("turn"), int):
            return f"field `steps[{i}].turn`: missing or not an integer"
    return None
