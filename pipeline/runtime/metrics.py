"""Per-stage counters (in, out, dropped by reason, errors, per stream), rates, queue
depths and latency / batch-size histograms, and their export: a snapshot travels in every
heartbeat to the supervisor, which serves all stages' metrics on one Prometheus endpoint
and logs the counters periodically.

Histograms (fixed buckets, :data:`HISTOGRAMS`): ``process_seconds`` (a message's time in
its stage's code, every stage), ``batch_size`` (classify), and at publish the parts of an
event's latency from the wall clocks it carries: ``spot_to_classify_seconds`` (transport
and queueing), ``classify_seconds`` (batch wait and inference), ``classify_to_publish_
seconds`` and ``event_seconds`` (spot emit to published). Gauges: ``fps`` per stream
(messages in per second over the last few seconds) and ``queue_depth`` per stream (a
capture outbox, the clips classify holds).

Example:
    >>> m = StageMetrics("capture", 0)
    >>> m.count_in("cam0"); m.count_drop("cam0", "hwm")
    >>> m.snapshot()["streams"]["cam0"]
    {'in': 1, 'out': 0, 'errors': 0, 'dropped': {'hwm': 1}}
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

# Drop reasons, so dashboards can tell them apart:
#   hwm       - a live source's queue was full and its oldest frame was dropped
#   malformed - a message failed to decode
#   duplicate - a message with a seq already seen (replay after a restart)
#   stale     - a message that arrived after its stream had ended
#   no_face   - a frame in which the align stage found no face (it emits nothing)
#   face_too_small - align saw a face under tracking.min_face_px (not analysed)
DROP_REASONS = ("hwm", "malformed", "duplicate", "stale", "read", "no_face",
                "face_too_small")
GAUGE_HELP = {"fps": "messages received per second, over the last few seconds",
              "queue_depth": "messages waiting in the stage (capture outbox, classify "
                             "batch)"}


_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0,
                    2.0, 5.0)
HISTOGRAMS: dict[str, tuple[float, ...]] = {
    "process_seconds": _LATENCY_BUCKETS,
    "batch_size": (1, 2, 4, 8, 16, 32, 64, 128),
    "spot_to_classify_seconds": _LATENCY_BUCKETS,
    "classify_seconds": _LATENCY_BUCKETS,
    "classify_to_publish_seconds": _LATENCY_BUCKETS,
    "event_seconds": _LATENCY_BUCKETS,
}
"""Histogram name -> its bucket upper bounds (Prometheus ``le``; +Inf is implied)."""
RATE_WINDOW_S = 5.0  # fps: messages in over about this long


class _Histogram:
    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.sum += value
        self.count += 1
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                return


class _Rate:
    """Events per second over about RATE_WINDOW_S: two alternating windows."""

    __slots__ = ("start", "n", "last_rate")

    def __init__(self, now: float):
        self.start, self.n, self.last_rate = now, 0, 0.0

    def add(self, now: float, n: int) -> None:
        if now - self.start >= RATE_WINDOW_S:
            self.last_rate = self.n / (now - self.start)
            self.start, self.n = now, 0
        self.n += n

    def rate(self, now: float) -> float:
        elapsed = now - self.start
        if elapsed >= 1.0 or (self.last_rate == 0.0 and elapsed > 0):
            return self.n / elapsed  # the current window says enough, or is all there is
        return self.last_rate


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
        self._histograms: dict[str, _Histogram] = {}
        self._rates: dict[str, _Rate] = {}
        self._gauges: dict[str, dict[str, float]] = defaultdict(dict)

    def count_in(self, stream: str, n: int = 1) -> None:
        now = time.monotonic()
        with self._lock:
            self._streams[stream].inp += n
            rate = self._rates.get(stream)
            if rate is None:
                rate = self._rates[stream] = _Rate(now)
            rate.add(now, n)

    def observe(self, name: str, value: float) -> None:
        """One value into histogram ``name`` (one of :data:`HISTOGRAMS`)."""
        with self._lock:
            h = self._histograms.get(name)
            if h is None:
                h = self._histograms[name] = _Histogram(HISTOGRAMS[name])
            h.observe(value)

    def gauge(self, name: str, stream: str, value: float) -> None:
        """Set gauge ``name`` of ``stream`` (e.g. ``queue_depth``)."""
        with self._lock:
            self._gauges[name][stream] = value

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
            now = time.monotonic()
            fps = {sid: round(r.rate(now), 2) for sid, r in self._rates.items()}
            histograms = {name: {"le": list(h.bounds), "counts": list(h.counts),
                                 "sum": h.sum, "count": h.count}
                          for name, h in self._histograms.items()}
            gauges = {name: dict(v) for name, v in self._gauges.items()}
        snap: dict[str, Any] = {"stage": self.stage, "replica": self.replica,
                                "streams": streams}
        if fps:
            gauges["fps"] = fps
        if gauges:
            snap["gauges"] = gauges
        if histograms:
            snap["histograms"] = histograms
        return snap


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
        gauges: dict[str, GaugeMetricFamily] = {}
        histograms: dict[str, HistogramMetricFamily] = {}
        for snap in self._snapshots():
            who = [str(snap["stage"]), str(snap["replica"])]
            for name, per_stream in (snap.get("gauges") or {}).items():
                fam = gauges.get(name)
                if fam is None:
                    fam = gauges[name] = GaugeMetricFamily(
                        f"mestream_{name}", GAUGE_HELP.get(name, name), labels=labels)
                for sid, value in per_stream.items():
                    fam.add_metric([*who, sid], value)
            for name, h in (snap.get("histograms") or {}).items():
                fam = histograms.get(name)
                if fam is None:
                    fam = histograms[name] = HistogramMetricFamily(
                        f"mestream_{name}", name.replace("_", " "),
                        labels=["stage", "replica"])
                cumulative, buckets = 0, []
                for bound, n in zip(h["le"], h["counts"], strict=False):
                    cumulative += n
                    buckets.append((repr(float(bound)), cumulative))
                buckets.append(("+Inf", h["count"]))
                fam.add_metric(who, buckets, sum_value=h["sum"])
        yield from fams.values()
        yield dropped
        yield from gauges.values()
        yield from histograms.values()
        if self._extra is not None:
            for name, value in self._extra().items():
                yield GaugeMetricFamily(f"mestream_{name}", name.replace("_", " "), value=value)


