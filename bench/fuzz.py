"""Fuzzing the two parsers that take outside input: the wire decoder (anything a peer
sends) and the config loader (anything a user writes).

Properties (hypothesis generates the cases; both are checked in CI with a few hundred
cases by tests/pipeline/runtime/test_wire.py and test_config.py, and with >= 100,000 each by
``fuzz_rows`` in the benchmark job):

- ``wire.decode(parts)`` returns a :class:`~pipeline.runtime.wire.Message` or raises
  :class:`~pipeline.errors.WireError`, never anything else; a valid message survives
  ``decode(encode(...))`` unchanged (a quarter of the decoder's cases).
- ``parse_config(data)`` returns a :class:`~pipeline.config.PipelineConfig` or raises
  :class:`~pipeline.errors.ConfigError` whose every line names the source and a YAML
  path (``<fuzz>: stages.publish.bind: ...``), never anything else.

Cases are structure-aware: besides raw bytes and arbitrary JSON-like trees, they
start from valid messages and configs and mutate one part (a flipped byte, a value of
the wrong type, an unknown key, a deleted key), which is where parsers break.

hypothesis is a test dependency (``pip install -e .[test]``); it is imported only when
fuzzing runs, and ``fuzz_rows`` says so when it is missing.
"""

from __future__ import annotations

import copy
import re
import sys
import time
from typing import Any

import msgpack
import numpy as np

from pipeline.config import parse_config
from pipeline.errors import ConfigError, WireError
from pipeline.runtime import wire

TARGET_CASES = 100_000
QUICK_CASES = 500  # `mestream bench --quick`: a smoke run of seconds
CONFIG_SOURCE = "<fuzz>"
# Every ConfigError line: "<fuzz>[:line]: path: message" (path may be "(top level)"),
# or, for data that is not a mapping at all, "<fuzz>: the top level must be ...".
_ERROR_LINE = re.compile(r"^<fuzz>(:\d+)?: (.+: .|the top level must be)", re.S)

VALID_CONFIG: dict[str, Any] = {
    "version": 1,
    "name": "fuzz",
    "sources": {
        "cam0": {"type": "testpattern", "frames": 5, "fps": 25},
        "file1": {"type": "file", "path": "clip.mp4", "realtime": False},
        "net": {"type": "network", "url": "rtsp://127.0.0.1/s",
                "reconnect": {"initial_s": 0.5, "max_s": 4}},
    },
    "stages": {
        "capture": {"type": "capture", "replicas": 1},
        "align": {"type": "align", "tracking": {"max_faces": 2}},
        "spot": {"type": "spot", "me_ms": 300, "emit": "events"},
        "publish": {"type": "publish", "bind": "tcp://127.0.0.1:5560",
                    "event_log": {"fsync": "interval", "retain_bytes": 1 << 20}},
    },
    "transport": {"kind": "ipc", "hwm": 16},
    "supervisor": {"heartbeat_timeout_s": 5},
    "security": {"server_key": "k/server.key_secret", "client_key": "k/client.key_secret",
                 "authorized_keys": "k/authorized"},
}


class Failure(Exception):
    """A property broke: the case and what escaped."""


# -- properties ---------------------------------------------------------------------
def check_decode(parts: list[bytes] | wire.Message) -> None:
    """decode gives a Message or a WireError; anything else is a Failure. A valid
    Message (the strategy's third kind of case) must survive a round trip."""
    if isinstance(parts, wire.Message):
        check_round_trip(parts)
        return
    try:
        msg = wire.decode(parts)
    except WireError:
        return
    except Exception as exc:
        raise Failure(f"decode({parts!r:.300}) raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(msg, wire.Message):
        raise Failure(f"decode returned {type(msg).__name__}")


def check_round_trip(msg: wire.Message) -> None:
    back = wire.decode([p if isinstance(p, bytes) else p.tobytes()
                        for p in wire.encode(msg)])
    # meta compared as packed bytes: NaN != NaN, yet a NaN that comes back is right
    same = (back.kind, back.stream, back.seq, back.pts_ns, back.track,
            msgpack.packb(back.meta)) == (msg.kind, msg.stream, msg.seq, msg.pts_ns,
                                          msg.track, msgpack.packb(msg.meta))
    if not same or back.buffers.keys() != msg.buffers.keys() or not all(
            np.array_equal(back.buffers[k], msg.buffers[k]) for k in msg.buffers):
        raise Failure(f"round trip changed {msg!r:.300}")


def check_config(data: Any) -> None:
    """parse_config gives a PipelineConfig or a ConfigError naming paths."""
    try:
        parse_config(data, source=CONFIG_SOURCE)
    except ConfigError as exc:
        bad = [line for line in exc.errors if not _ERROR_LINE.match(line)]
        if bad or not exc.errors:
            raise Failure(f"config error lines without a YAML path: {bad or exc.errors}"
                          ) from exc
    except Exception as exc:
        raise Failure(f"parse_config({data!r:.300}) raised {type(exc).__name__}: {exc}"
                      ) from exc


# -- strategies (built lazily: hypothesis is a test dependency) ----------------------
def strategies() -> dict[str, Any]:
    from hypothesis import strategies as st

    leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)  # msgpack's range
            | st.floats(allow_nan=True) | st.text(max_size=12) | st.binary(max_size=12))
    json_like = st.recursive(
        leaf, lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(-3, 3), inner, max_size=4),
        max_leaves=16)
    yaml_like = st.recursive(
        st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats()
        | st.text(max_size=16),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=16)

    names = st.sampled_from(["image", "face", "gray", "eyes", "mouth", "landmarks", "x"])
    dtypes = st.sampled_from(sorted(wire.DTYPES))

    @st.composite
    def valid_message(draw: Any) -> wire.Message:
        kind = draw(st.sampled_from([wire.EVENT, wire.EOS, wire.HEARTBEAT, wire.ACK,
                                     wire.TRACK, wire.FRAME]))
        bufs: dict[str, np.ndarray] = {}
        if kind == wire.FRAME:
            h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
            bufs["image"] = np.full((h, w, 3), draw(st.integers(0, 255)), np.uint8)
        for name in draw(st.lists(names.filter(lambda n: n != "image"), max_size=3,
                                  unique=True)):
            shape = draw(st.lists(st.integers(0, 4), max_size=3))
            bufs[name] = np.zeros(shape, draw(dtypes))
        meta = draw(st.dictionaries(st.text(max_size=6), yaml_like, max_size=4))
        stream = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}", fullmatch=True))
        return wire.Message(kind, stream, draw(st.integers(0, 2**62)),
                            draw(st.integers(-(2**62), 2**62)), bufs, meta,
                            draw(st.none() | st.integers(0, 1000)))

    @st.composite
    def mutated_parts(draw: Any) -> list[bytes]:
        msg = draw(valid_message())
        parts = [p if isinstance(p, bytes) else p.tobytes() for p in wire.encode(msg)]
        how = draw(st.integers(0, 4))
        i = draw(st.integers(0, len(parts) - 1))
        if how == 0 and parts[i]:  # flip one byte
            j = draw(st.integers(0, len(parts[i]) - 1))
            parts[i] = parts[i][:j] + bytes([parts[i][j] ^ draw(st.integers(1, 255))]) \
                + parts[i][j + 1:]
        elif how == 1:  # truncate a part
            parts[i] = parts[i][: draw(st.integers(0, max(0, len(parts[i]) - 1)))]
        elif how == 2:  # drop or add a part
            if draw(st.booleans()) and len(parts) > 1:
                del parts[i]
            else:
                parts.insert(i, draw(st.binary(max_size=16)))
        else:  # replace one header key's value with anything (wrong types, versions)
            header = msgpack.unpackb(parts[1], raw=False)
            key = draw(st.sampled_from(sorted(header) + ["v", "zz"]))
            header[key] = draw(json_like)
            parts[1] = msgpack.packb(header, use_bin_type=True)
        return parts

    raw_parts = st.lists(st.binary(max_size=48), max_size=5)
    header_parts = st.builds(
        lambda h, rest: [b"cam", msgpack.packb(h, use_bin_type=True), *rest],
        st.dictionaries(st.sampled_from(["v", "kind", "stream", "seq", "pts_ns", "bufs",
                                         "meta", "track"]), json_like, max_size=8),
        st.lists(st.binary(max_size=32), max_size=3))

    @st.composite
    def mutated_config(draw: Any) -> Any:
        data = copy.deepcopy(VALID_CONFIG)
        for _ in range(draw(st.integers(1, 3))):
            path = _random_path(draw, st, data)
            parent, key = path
            how = draw(st.integers(0, 3))
            if how == 0:
                parent[key] = draw(yaml_like)        # any value, wrong types included
            elif how == 1 and isinstance(parent, dict):
                del parent[key]                      # a required key may go
            elif how == 2 and isinstance(parent, dict):
                parent[draw(st.text(max_size=10))] = draw(yaml_like)  # unknown keys
            else:
                parent[key] = draw(st.sampled_from([0, -1, 2**40, "", "x" * 300, [], {},
                                                    None, True, 1.5, "tcp://0.0.0.0:1"]))
        return data

    return {"decode": st.one_of(raw_parts, header_parts, mutated_parts(), valid_message()),
            "config": st.one_of(mutated_config(), yaml_like,
                                st.dictionaries(st.text(max_size=10), yaml_like,
                                                max_size=6))}


def _random_path(draw: Any, st: Any, data: dict[str, Any]) -> tuple[Any, Any]:
    """A (container, key) somewhere in ``data``, chosen by walking down at random."""
    node: Any = data
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        return node, key


# -- running ------------------------------------------------------------------------
BATCH = 5_000  # cases per hypothesis run: its per-run bookkeeping grows with the run


def run(target: str, cases: int, progress: bool = False) -> dict[str, Any]:
    """Check ``cases`` hypothesis cases of one property, in runs of ``BATCH`` with fresh
    random seeds; failures are counted (the first kept), not raised, so the run
    completes. Returns cases, failures, seconds."""
    from hypothesis import HealthCheck, given, settings

    check = {"decode": check_decode, "config": check_config}[target]
    stats: dict[str, Any] = {"cases": 0, "failures": 0, "first": None}
    t = time.perf_counter()
    strategy = strategies()[target]

    def one_case(case: Any) -> None:
        stats["cases"] += 1
        try:
            check(case)
        except Failure as exc:
            stats["failures"] += 1
            stats["first"] = stats["first"] or str(exc)

    while stats["cases"] < cases:
        batch = min(BATCH, cases - stats["cases"])
        settings(max_examples=batch, deadline=None, database=None,
                 suppress_health_check=list(HealthCheck))(given(strategy)(one_case))()
        if progress:
            print(f"fuzz {target}: {stats['cases']:,} cases, {stats['failures']} failures, "
                  f"{time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    stats["seconds"] = time.perf_counter() - t
    return stats


def fuzz_rows(quick: bool) -> list[tuple[str, str, str, str]]:
    """Benchmark rows (benchmark, result, statistic, target) for ``mestream bench``."""
    cases = QUICK_CASES if quick else TARGET_CASES
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        return [("fuzz (wire decoder, config loader)", "not run: hypothesis is not "
                 "installed (pip install -e .[test])", "-", f">= {TARGET_CASES:,} cases, "
                 "0 failures")]
    rows = []
    for target, label in (("decode", "fuzz: wire.decode (random, mutated, round trip)"),
                          ("config", "fuzz: config loader (random, mutated YAML data)")):
        s = run(target, cases, progress=not quick)
        result = f"{s['cases']:,} cases, {s['failures']} failures"
        if s["first"]:
            result += f" (first: {s['first'][:120]})"
        rows.append((label, result, f"{s['cases'] / s['seconds']:,.0f} cases/s, "
                     f"{s['seconds']:.0f} s", f">= {cases:,} cases, 0 failures"))
    return rows


if __name__ == "__main__":  # python -m bench.fuzz [--quick]
    for row in fuzz_rows(quick="--quick" in sys.argv):
        print(" | ".join(row), flush=True)
