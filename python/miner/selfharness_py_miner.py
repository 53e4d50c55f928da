#!/usr/bin/env python3
"""selfharness-py-miner: the Miner stage of selfharness, in Python, over NATS.

It speaks the contract of proto/README.md ("Over NATS"): it answers core NATS requests on
`selfharness.v1.Miner.Mine` in queue group `selfharness-miners` (so it can run beside or instead
of `selfharness miner`), decodes the body as a `MineRequest`, reads every trace named in
`trace_refs` from the JetStream object store `selfharness_traces`, mines them (mining.py) and
replies with a `MineResponse`. A request it cannot answer gets an empty reply with the header
`Selfharness-Error: <gRPC code name>: <message>`, and it goes on serving.

    python python/miner/selfharness_py_miner.py --nats nats://HOST:4222

The protobuf classes are generated from proto/ by scripts/python-setup.sh into
target/pyenv/gen, which is found from here (or put a directory of your own on PYTHONPATH).
Logs go to stderr; SIGTERM or SIGINT stops it cleanly (requests in progress are answered).
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2] / "target" / "pyenv" / "gen"))

import nats  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402
from nats.js.api import StorageType  # noqa: E402
from nats.js.errors import BucketNotFoundError, NotFoundError  # noqa: E402
from selfharness.v1 import miner_pb2  # noqa: E402

import mining  # noqa: E402

SUBJECT = "selfharness.v1.Miner.Mine"
QUEUE = "selfharness-miners"
TRACES = "selfharness_traces"
ERROR_HEADER = "Selfharness-Error"

log = logging.getLogger("selfharness-py-miner")


class Failure(Exception):
    """A request this miner refuses: a gRPC code name and a message naming the field."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def trace_from_proto(t):
    """An inline `Trace` message as the dict of its JSON form (see core/src/trace.rs)."""

    def opt(message, name):
        return getattr(message, name) if message.HasField(name) else None

    return {
        "id": t.id,
        "task_id": t.task_id,
        "end": t.end,
        "end_detail": t.end_detail,
        "reward": opt(t, "reward"),
        "steps": [
            {
                "turn": s.turn,
                "tool": opt(s, "tool"),
                "arguments": opt(s, "arguments"),
                "observation": s.observation,
                "exit_code": opt(s, "exit_code"),
                "timed_out": s.timed_out,
                "verdicts": [{"wrapper": v.wrapper, "outcome": v.outcome} for v in s.verdicts],
                "error": opt(s, "error"),
            }
            for s in t.steps
        ],
    }


async def fetch_trace(store, i, name):
    at = f"MineRequest: field `trace_refs[{i}]`"
    if not name:
        raise Failure("INVALID_ARGUMENT", f"{at}: empty")
    try:
        obj = await store.get(name)
    except NotFoundError:
        raise Failure("NOT_FOUND", f"{at}: no object {json.dumps(name)} in {TRACES}")
    except Exception as e:  # a timeout, a lost connection: worth retrying later
        raise Failure("UNAVAILABLE", f"{at}: reading {json.dumps(name)}: {e!r}")
    try:
        trace = json.loads(obj.data)
    except ValueError as e:
        raise Failure("INVALID_ARGUMENT", f"{at}: {json.dumps(name)} is not a trace: {e}")
    why = mining.check_trace(trace)
    if why:
        raise Failure("INVALID_ARGUMENT", f"{at}: {json.dumps(name)} is not a trace: {why}")
    return trace


async def mine_request(store, body):
    """One request: decode, gather the traces (inline, then by reference), mine, encode."""
    try:
        request = miner_pb2.MineRequest.FromString(body)
    except DecodeError as e:
        raise Failure("INVALID_ARGUMENT", f"MineRequest: could not decode: {e}")
    traces = []
    for i, t in enumerate(request.traces):
        if t.end not in mining.END_REASONS:
            raise Failure(
                "INVALID_ARGUMENT", f"MineRequest: field `traces[{i}].end`: unknown value {json.dumps(t.end)}"
            )
        traces.append(trace_from_proto(t))
    for i, name in enumerate(request.trace_refs):
        traces.append(await fetch_trace(store, i, name))
    weaknesses = await asyncio.to_thread(mining.mine, traces)
    log.info("mined %d traces: %d weaknesses", len(traces), len(weaknesses))
    response = miner_pb2.MineResponse()
    for w in weaknesses:
        response.weaknesses.add(
            id=w.id,
            kind=w.kind,
            tool=w.tool,
            error=w.error,
            name=w.name,
            failures=w.failures,
            tasks=w.tasks,
            position=w.position,
            evidence=[
                miner_pb2.Evidence(trace=e.trace, task=e.task, step=e.step, excerpt=e.excerpt)
                for e in w.evidence
            ],
        )
    return response.SerializeToString()


async def connect(url, stop):
    """Connect, retrying while the server is not up yet; None if stopped before that."""

    async def on_error(e):
        log.warning("nats: %s", e)

    log.info("connecting to %s", url)
    # With unlimited reconnects, nats-py also retries the first connection for ever.
    connecting = asyncio.ensure_future(
        nats.connect(url, name="selfharness-py-miner", max_reconnect_attempts=-1, error_cb=on_error)
    )
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if connecting.done():
        return connecting.result()
    connecting.cancel()
    return None


async def trace_store(js):
    """The trace object store, created if missing (as the Rust roles do)."""
    try:
        return await js.object_store(TRACES)
    except BucketNotFoundError:
        try:
            return await js.create_object_store(TRACES, storage=StorageType.FILE)
        except Exception:  # another process created it meanwhile
            return await js.object_store(TRACES)


async def serve(url):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await connect(url, stop)
    if nc is None:
        log.info("stopped before connecting")
        return
    store = await trace_store(nc.jetstream())

    async def on_request(msg):
        if not msg.reply:
            log.warning("request without a reply subject ignored")
            return
        t0 = time.monotonic()
        body, headers = b"", None
        try:
            body = await mine_request(store, msg.data)
        except Failure as f:
            headers = {ERROR_HEADER: str(f)}
        except Exception as e:  # a bug here must not stop the miner
            log.exception("request failed")
            headers = {ERROR_HEADER: f"INTERNAL: MineRequest: {e!r}"}
        if headers:
            log.warning("request failed: %s", headers[ERROR_HEADER])
        await nc.publish(msg.reply, body, headers=headers)
        log.info("answered (ok=%s) in %d ms", headers is None, (time.monotonic() - t0) * 1000)

    await nc.subscribe(SUBJECT, queue=QUEUE, cb=on_request)
    await nc.flush()
    log.info("serving %s (queue %s) on %s", SUBJECT, QUEUE, url)
    await stop.wait()
    log.info("stopping")
    await nc.drain()
    log.info("stopped")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nats",
        default=os.environ.get("SELFHARNESS_NATS", "nats://127.0.0.1:4222"),
        help="NATS server URL, JetStream on (env SELFHARNESS_NATS; default %(default)s)",
    )
    args = parser.parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("SELFHARNESS_PY_LOG", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(args.nats))


if __name__ == "__main__":
    main()
