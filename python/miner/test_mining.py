"""Unit tests of the mining rules: python -m unittest discover -s python/miner (the Rust test
tests/python_miner.rs runs them too). The cases mirror miner/src/lib.rs's tests."""

import json
import unittest

import mining


def trace(id, task, end, steps, reward, detail="command ran past the 10s limit: tail -f /dev/null"):
    return {"id": id, "task_id": task, "end": end, "end_detail": detail, "steps": steps, "reward": reward}


def bash(turn, command, exit_code, observation, verdicts=()):
    return {
        "turn": turn,
        "tool": "bash",
        "arguments": json.dumps({"command": command}),
        "exit_code": exit_code,
        "observation": observation,
        "verdicts": list(verdicts),
    }


class Mining(unittest.TestCase):
    def test_normalise_clusters_paths_numbers_and_strings(self):
        self.assertEqual(
            mining.normalise("cd: /app/wrk: No such file or directory"),
            mining.normalise("\n  cd: /app/other: No such file or directory\nmore"),
        )
        self.assertEqual(mining.normalise("exceeds 48213 tokens 'x'"), "exceeds <n> tokens <str>")

    def test_ids_are_the_rust_miners(self):
        # The published FNV-1a test vector, then its low 32 bits as the id.
        self.assertEqual(mining.fnv1a("a"), 0xAF63DC4C8601EC8C)
        self.assertEqual(mining.weakness_id("a", "b", "c"), f"w-{mining.fnv1a('a|b|c') & 0xFFFFFFFF:08x}")

    def test_recurring_failures_cluster_and_rank_by_impact(self):
        failing = bash(
            1, "cd /app/wrk && sort x", 1, "exit_code: 1\n[stderr]\nbash: cd: /app/wrk: No such file"
        )

        def ignored(id, task):
            return trace(id, task, "done", [failing, bash(2, "echo ok", 0, "")], 0.0)

        hung = trace("d", "t9", "command_timeout", [bash(1, "tail -f /dev/null", 0, "")], 0.0)
        passed = trace("e", "t3", "done", [], 1.0)
        ws = mining.mine([ignored("a", "t1"), ignored("b", "t2"), ignored("c", "t2"), hung, passed])
        self.assertEqual([w.kind for w in ws], ["ignored_failure", "command_timeout"])
        self.assertEqual((ws[0].failures, ws[0].tasks), (3, 2))
        self.assertEqual(ws[0].error, "bash: cd: <path>: No such file")
        self.assertEqual([(e.trace, e.step) for e in ws[0].evidence], [("a", 1), ("b", 1), ("c", 1)])
        self.assertEqual(ws[1].tool, "bash")
        self.assertEqual(ws[1].error, "command ran past the <n>s limit: tail -f <path>")

    def test_a_repaired_failure_is_not_ignored(self):
        steps = [
            bash(1, "make -C /app build", 2, "exit_code: 2\nmake: *** no rule"),
            bash(2, "make -C /app build", 0, ""),
        ]
        ws = mining.mine([trace("a", "t", "done", steps, 0.0)])
        self.assertEqual([w.kind for w in ws], ["premature_done"])

    def test_blocked_destructive_command_is_not_a_weakness(self):
        blocked = bash(1, "rm -rf /app/*", None, "", [{"wrapper": "deny_pattern", "outcome": "blocked"}])
        self.assertEqual(
            [w.kind for w in mining.mine([trace("a", "t", "done", [blocked], 0.0)])], ["premature_done"]
        )
        ran = bash(1, "rm -rf /app/*", 0, "")
        self.assertEqual(
            [w.kind for w in mining.mine([trace("a", "t", "done", [ran], 0.0)])], ["destructive_command"]
        )

    def test_a_reply_error_is_named_by_the_last_steps_error(self):
        step = {
            "turn": 1,
            "tool": "write_file",
            "arguments": '{"path": "/app/x',
            "error": "write_file: not valid JSON at line 1 column 17",
        }
        ws = mining.mine([trace("a", "t", "malformed_reply", [step], 0.0)])
        self.assertEqual(
            (ws[0].kind, ws[0].tool, ws[0].error),
            ("malformed_reply", "write_file", "write_file: not valid JSON at line <n> column <n>"),
        )
        self.assertEqual(ws[0].position, 0.0)

    def test_bad_traces_are_named(self):
        self.assertIsNone(mining.check_trace(trace("a", "t", "done", [], None)))
        self.assertEqual(
            mining.check_trace(trace("a", "t", "exploded", [], 0.0)), 'field `end`: unknown value "exploded"'
        )
        self.assertEqual(mining.check_trace([]), "not a JSON object")


if __name__ == "__main__":
    unittest.main()
