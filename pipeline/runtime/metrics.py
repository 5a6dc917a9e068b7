"""Per-stage counters (in, out, dropped by reason, errors, per stream) and their
export: a snapshot travels in every heartbeat to the supervisor, which serves all
stages' counters on one Prometheus endpoint and logs them periodically.

Example:
    >>> m = StageMetrics("capture", 0)
    >>> m.count_in("cam0"); m.count_drop("cam0", "hwm")
    >>> m.snapshot()["streams"]["cam0"]
    {'in': 1, 'out': 0, 'errors': 0, 'dropped': {'hwm': 1}}
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# Drop reasons, so dashboards can tell them apart:
#   hwm       - a live source's queue was full and its oldest frame was dropped
#   malformed - a message failed to decode
#   duplicate - a message with a seq already seen (replay after a restart)
#   stale     - a message that arrived after its stream had ended
#   no_face   - a frame in which the align stage found no face (it emits nothing)
DROP_REASONS = ("hwm", "malformed", "duplicate", "stale", "read", "no_face")


class _StreamCounters:
    __slots__ = ("inp", "out", "errors", "dropped", "gaps")

    def __init__(self) -> None:
        self.inp = 0
        self.out = 0
        self.errors = 0
        self.gaps = 0
        self.dropped: dict[str, int] = defaultdict(int)


class StageMetrics:
    """Thread-safe counters of one stage process (capture runs a thread a source)."""

    def __init__(self, stage: str, replica: int):
        self.stage = stage
        self.replica = replica
        self._lock = threading.Lock()
        self._streams: dict[str, _StreamCounters] = defaultdict(_StreamCounters)

    def count_in(self, stream: str, n: int = 1) -> None:
        with self._lock:
            self._streams[stream].inp += n

    def count_out(self, stream: str, n: int = 1) -> None:
        with self._lock:
            self._streams[stream].out += n

    def count_error(self, stream: str, n: int = 1) -> None:
        with self._lock:
            self._streams[stream].errors += n

    def count_drop(self, stream: str, reason: str, n: int = 1) -> None:
        with self._lock:
            self._streams[stream].dropped[reason] += n

    def count_gap(self, stream: str, missing: int) -> None:
        with self._lock:
            self._streams[stream].gaps += missing

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy of the counters."""
        with self._lock:
            streams = {}
            for sid, c in self._streams.items():
                entry: dict[str, Any] = {"in": c.inp, "out": c.out, "errors": c.errors,
                                         "dropped": dict(c.dropped)}
                if c.gaps:
                    entry["gaps"] = c.gaps
                streams[sid] = entry
        return {"stage": self.stage, "replica": self.replica, "streams": streams}


def summary_line(snap: Mapping[str, Any]) -> str:
    """One log line: ``capture.0 cam0 in=10 out=10 drop=0 err=0 | ...``."""
    parts = []
    for sid, c in sorted(snap.get("streams", {}).items()):
        drops = sum(c.get("dropped", {}).values())
        parts.append(f"{sid} in={c['in']} out={c['out']} drop={drops} err={c['errors']}")
    return f"{snap['stage']}.{snap['replica']} " + (" | ".join(parts) or "idle")


class SnapshotCollector(Collector):
    """Prometheus collector over the latest snapshot of every stage process."""

    def __init__(self, snapshots: Callable[[], Iterable[Mapping[str, Any]]],
                 extra: Callable[[], Mapping[str, float]] | None = None):
        self._snapshots = snapshots
        self._extra = extra

    def collect(self) -> Iterator[Any]:
        labels = ["stage", "replica", "stream"]
        fams = {
            "in": CounterMetricFamily("mestream_messages_in", "messages received", labels=labels),
            "out": CounterMetricFamily("mestream_messages_out", "messages sent", labels=labels),
            "errors": CounterMetricFamily("mestream_errors", "processing errors", labels=labels),
            "gaps": CounterMetricFamily("mestream_seq_gaps", "missing seq numbers", labels=labels),
        }
        dropped = CounterMetricFamily("mestream_dropped", "messages dropped",
                                      labels=[*labels, "reason"])
        for snap in self._snapshots():
            for sid, c in snap.get("streams", {}).items():
                key = [str(snap["stage"]), str(snap["replica"]), sid]
                for name, fam in fams.items():
                    fam.add_metric(key, c.get(name, 0))
                for reason, n in c.get("dropped", {}).items():
                    dropped.add_metric([*key, reason], n)
        yield from fams.values()
        yield dropped
        if self._extra is not None:
            for name, value in self._extra().items():
                yield GaugeMetricFamily(f"mestream_{name}", name.replace("_", " "), value=value)


