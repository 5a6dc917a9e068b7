"""One load run: the real pipeline with N real-time synthetic 640x480 streams, measured
from a subscriber and from /proc.

A YAML is generated in a temporary folder and run with ``mestream run`` (the supervisor
and one OS process per stage replica, ZeroMQ between them), exactly as a user runs it.
The sources are ``pipeline.synth.source:synthetic_source`` with ``wall_clock_pts``: frame
pts are unix nanoseconds of the moment the frame exists (as a camera stamping frames from
the system clock), so at the subscriber ``time.time_ns() - pts`` is the frame's lag and
``time.time_ns() - offset_ns`` an event's latency from its expression's offset frame. The
spot stage sends one ``track`` record per face and frame (``emit_tracks``), so every frame
that made it through capture, align and spot is counted and timed.

While it runs, the CPU time of every stage process is read from /proc twice (after the
first third and near the end), so the profile says where the CPU went per frame.

Example (about 30 s)::

    from bench.load_run import LoadSpec, run_load
    result = run_load(LoadSpec(streams=2, seconds=10))
    print(result.sustained, result.lag_growth_ms, result.drop_fraction)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.processes import stage_processes
from pipeline.client import EventSubscriber
from pipeline.runtime.sockets import free_tcp_port

WEIGHTS = Path(__file__).resolve().parents[1] / "pipeline" / "weights"
MODEL = WEIGHTS / "stcnn_synth_casme2.onnx"
SHIPPED_MODEL = WEIGHTS / "au_net_synth_megc3.onnx"  # configs/demo.yaml's classifier
CLK_TCK = os.sysconf("SC_CLK_TCK")
LAG_GROWTH_LIMIT_MS = 100.0
"""A run sustains its load when its lag grew by at most this much from the first to the
last quarter of the run (and fewer than ``DROP_LIMIT`` of its frames were lost)."""
DROP_LIMIT = 0.01
WARMUP_S = 2.0
"""Frames of the first seconds are not used for lag growth: stages warm up (first ORT
call, first detections)."""


@dataclass(frozen=True)
class LoadSpec:
    """What one load run runs."""

    streams: int
    seconds: float = 20.0
    fps: float = 30.0
    loop_frames: int | None = 48
    """Pre-rendered frames each source loops (forwards and backwards); None renders
    every frame live (the generator's CPU then counts as the camera's)."""
    capture_replicas: int = 1
    align_replicas: int = 2
    spot_replicas: int = 1
    detect_every: int = 5
    landmark_every: int = 1
    mesh: str = "refined"
    """stages.align.tracking.mesh (refined, fast, plain)."""
    align_size: int = 64
    stabilise: str = "hold"
    spotter: str = "flow"
    model: Path = MODEL
    label_set: str = "casme2"  # the classes the sources plant (the model's)
    opencv_threads: int = 1  # stages.*.opencv_threads of capture, align, spot
    ort_threads: int = 1
    batch_delay_ms: float = 5.0
    """classify's max_delay_ms: clips come at most about one a second a stream, so a long
    batching window would buy no throughput and cost its length in latency."""
    events_per_minute: float = 30.0

    def _landmarks(self) -> str:
        every = (f", landmarks every {self.landmark_every}" if self.landmark_every > 1
                 else "")
        return every + (f", {self.mesh} mesh" if self.mesh != "refined" else "")

    def describe(self) -> str:
        source = (f"pre-rendered {self.loop_frames}-frame loop per stream" if self.loop_frames
                  else "rendered live")
        return (f"{source}; capture x{self.capture_replicas}, align x{self.align_replicas} "
                f"(detector every {self.detect_every} frames{self._landmarks()}, "
                f"{self.align_size} px {self.stabilise.replace('_', '-')}), spot "
                f"x{self.spot_replicas} ({self.spotter}), classify x1 ({self.model.stem}, "
                f"ORT, {self.ort_threads} intra-op thread, batches wait <= "
                f"{self.batch_delay_ms:.0f} ms), publish x1")


@dataclass
class ProcessCpu:
    """CPU seconds a stage replica used between the two samples."""

    stage: str
    replica: int
    cpu_s: float


@dataclass
class LoadResult:
    spec: LoadSpec
    frames_in: int
    """Frames the sources produced (streams x seconds x fps)."""
    frames_out: int
    """Frames that reached the subscriber as a track record (face found, aligned, spotted)."""
    lag_ms: list[float]
    """time.time_ns() at the subscriber - pts, every frame after the warm-up, in ms."""
    lag_growth_ms: float
    """Worst stream: median lag of the last quarter - median lag of the first quarter."""
    event_latency_ms: list[float]
    """Per event: receipt at the subscriber - the interval's offset pts, in ms."""
    event_lookahead_ms: list[float]
    """Per event (same order): the spotter's own look-ahead for it, pts of the frame that
    closed the interval - its offset pts (the event's ``latency_ms.offset_to_clip``)."""
    event_breakdown_ms: dict[str, tuple[float, float]]
    """(p50, p99) of the parts of event latency the events carry (:func:`_breakdown`)."""
    cpu: list[ProcessCpu]
    cpu_window_s: float
    frames_in_window: int
    """Track records the subscriber received between the two CPU samples."""
    machine_busy_cores: float
    """All CPU time on the machine in the window / window length (other jobs included)."""
    subscriber_cpu_s: float
    finished: bool
    """The pipeline ended by itself (False: stopped at the deadline, far behind)."""
    notes: list[str] = field(default_factory=list)

    @property
    def drop_fraction(self) -> float:
        return 1.0 - self.frames_out / self.frames_in if self.frames_in else 1.0

    @property
    def sustained(self) -> bool:
        return (self.finished and self.drop_fraction < DROP_LIMIT
                and self.lag_growth_ms <= LAG_GROWTH_LIMIT_MS)

    def cpu_ms_per_frame(self) -> dict[str, float]:
        """CPU milliseconds per frame that went through, per stage (replicas summed)."""
        frames = max(1, self.frames_in_window)
        out: dict[str, float] = {}
        for p in self.cpu:
            out[p.stage] = out.get(p.stage, 0.0) + p.cpu_s * 1000.0 / frames
        return out


def shipped(streams: int, seconds: float = 20.0) -> LoadSpec:
    """The configuration ``make demo`` ships (configs/demo.yaml's align, spot and
    classify): 128 px one-euro alignment, the learned spotter, the AU recogniser."""
    return LoadSpec(streams=streams, seconds=seconds, align_size=128, stabilise="one_euro",
                    spotter="learned", model=SHIPPED_MODEL, label_set="megc3")


def free_port() -> int:
    """A free TCP port whose successor is free too (the publish stage's replay endpoint
    binds port + 1)."""
    return free_tcp_port(consecutive=2)


def live_subscriber(endpoint: str) -> EventSubscriber:
    """A subscriber to live records only: no replay requests, which would hold up the
    receive loop and so inflate the lags it measures."""
    try:
        return EventSubscriber(endpoint, timeout_s=1.0, replay=False)  # type: ignore[call-arg]
    except TypeError:  # a client without replay support
        return EventSubscriber(endpoint, timeout_s=1.0)


def pipeline_yaml(spec: LoadSpec, port: int, ipc_dir: Path) -> dict[str, Any]:
    """The pipeline a load run starts (also written to configs/bench/ by hand)."""
    options: dict[str, Any] = {"fps": spec.fps, "width": 640, "height": 480,
                               "seconds": spec.seconds, "label_set": spec.label_set,
                               "event_rate": spec.events_per_minute, "wall_clock_pts": True}
    if spec.loop_frames:
        options["loop_frames"] = spec.loop_frames
    sources = {f"cam-{i:02d}": {"type": "python",
                                "factory": "pipeline.synth.source:synthetic_source",
                                "realtime": True, "options": {**options, "seed": 100 + i}}
               for i in range(spec.streams)}
    return {
        "version": 1, "name": "bench-streams",
        "sources": sources,
        "stages": {
            "capture": {"type": "capture", "replicas": spec.capture_replicas,
                        "opencv_threads": spec.opencv_threads},
            "align": {"type": "align", "replicas": spec.align_replicas,
                      "opencv_threads": spec.opencv_threads,
                      "tracking": {"detect_every": spec.detect_every,
                                   "landmark_every": spec.landmark_every,
                                   "mesh": spec.mesh},
                      "alignment": {"size": spec.align_size, "stabilise": spec.stabilise}},
            "spot": {"type": "spot", "replicas": spec.spot_replicas, "spotter": spec.spotter,
                     "opencv_threads": spec.opencv_threads,
                     "clip_frames": 18, "emit_tracks": True,
                     "track_landmarks": False},
            "classify": {"type": "classify", "model": str(spec.model), "backend": "onnxruntime",
                         "threads": spec.ort_threads, "max_batch": 16,
                         "max_delay_ms": spec.batch_delay_ms},
            "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                        "wait_subscribers": 1},
        },
        "transport": {"ipc_dir": str(ipc_dir)},
        "logging": {"level": "WARNING"},
        "metrics": {"log_interval_s": 0},
    }


def _proc_cpu_s(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _stage_processes(supervisor_pid: int) -> dict[int, tuple[str, int]]:
    """pid -> (stage, replica) of the supervisor's stage processes, and itself."""
    return {**stage_processes(supervisor_pid), supervisor_pid: ("supervisor", 0)}


def _machine_cpu_s() -> float:
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuSampler:
    """Reads the CPU time of the pipeline's processes at two moments."""

    def __init__(self, supervisor_pid: int):
        self.pid = supervisor_pid
        self.samples: list[tuple[float, float, float, dict[int, tuple[str, int, float]]]] = []
        self.unix_ns: list[int] = []

    def sample(self) -> None:
        procs = {}
        for pid, (stage, replica) in _stage_processes(self.pid).items():
            cpu = _proc_cpu_s(pid)
            if cpu is not None:
                procs[pid] = (stage, replica, cpu)
        self.samples.append((time.monotonic(), _machine_cpu_s(), _own_cpu_s(), procs))
        self.unix_ns.append(time.time_ns())

    def window(self) -> tuple[list[ProcessCpu], float, float, float]:
        """(per process CPU, window seconds, machine busy cores, subscriber CPU s)."""
        if len(self.samples) < 2:
            return [], 0.0, 0.0, 0.0
        (t0, m0, o0, a), (t1, m1, o1, b) = self.samples[0], self.samples[-1]
        cpu = [ProcessCpu(stage, replica, cpu - a[pid][2])
               for pid, (stage, replica, cpu) in b.items() if pid in a]
        span = t1 - t0
        return cpu, span, (m1 - m0) / span if span else 0.0, o1 - o0


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def run_load(spec: LoadSpec, startup_timeout_s: float = 90.0,
             max_lag_s: float = 15.0) -> LoadResult:
    """Run the pipeline at ``spec``'s load and measure it (see the module docstring).

    The run is stopped (SIGINT to the supervisor: captures stop, the rest drains) when it
    is ``max_lag_s`` past its sources' end: such a load is far from sustained anyway.
    """
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mestream-bench-") as tmp:
        port = free_port()
        cfg = pipeline_yaml(spec, port, Path(tmp) / "ipc")
        path = Path(tmp) / "streams.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        streams = sorted(cfg["sources"])
        tracks: dict[str, list[tuple[int, int]]] = {s: [] for s in streams}  # (pts, recv)
        seqs: dict[str, set[int]] = {s: set() for s in streams}
        events: list[dict[str, Any]] = []
        log_path = Path(tmp) / "run.log"
        with live_subscriber(f"tcp://127.0.0.1:{port}") as sub, open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "mestream.cli", "run", str(path)],
                                    stdout=subprocess.DEVNULL, stderr=log)
            sampler = CpuSampler(proc.pid)
            stopped = False
            try:
                pending, stopped = _collect(spec, sub, proc, tracks, seqs, events, sampler,
                                            notes, startup_timeout_s, max_lag_s)
            finally:  # an interrupted benchmark leaves no pipeline behind
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finished = not pending and not stopped
        if proc.returncode != 0 and not stopped:
            tail = log_path.read_text(errors="replace")[-600:]
            notes.append(f"mestream run exited {proc.returncode}: {tail}")
    frames_in = round(spec.streams * spec.seconds * spec.fps)
    cpu, span, busy, own = sampler.window()
    in_window = 0
    if len(sampler.unix_ns) >= 2:
        a, b = sampler.unix_ns[0], sampler.unix_ns[-1]
        in_window = sum(a <= recv <= b for rows in tracks.values() for _, recv in rows)
    timed = [e for e in events if (e.get("interval") or {}).get("offset_ns")]
    return LoadResult(
        spec=spec, frames_in=frames_in, frames_out=sum(len(s) for s in seqs.values()),
        lag_ms=_lags(tracks), lag_growth_ms=_lag_growth(tracks),
        event_latency_ms=[(e["received_unix_ns"] - int(e["interval"]["offset_ns"])) / 1e6
                          for e in timed],
        event_lookahead_ms=[float((e.get("latency_ms") or {}).get("offset_to_clip") or 0.0)
                            for e in timed],
        event_breakdown_ms=_breakdown(events), cpu=cpu, cpu_window_s=span,
        frames_in_window=in_window,
        machine_busy_cores=busy, subscriber_cpu_s=own, finished=finished, notes=notes)


def _collect(spec: LoadSpec, sub: EventSubscriber, proc: subprocess.Popen[bytes],
             tracks: dict[str, list[tuple[int, int]]], seqs: dict[str, set[int]],
             events: list[dict[str, Any]], sampler: CpuSampler, notes: list[str],
             startup_timeout_s: float, max_lag_s: float) -> tuple[set[str], bool]:
    """Receive until every stream ended; returns (streams that did not end, stopped)."""
    pending = set(tracks)
    first_recv: float | None = None
    marks = [spec.seconds * 0.25, spec.seconds * 0.8]
    started = time.monotonic()
    stopped, stop_at = False, 0.0
    while pending:
        now = time.monotonic()
        if first_recv is None and now - started > startup_timeout_s:
            notes.append("no frame within the start-up timeout")
            break
        if first_recv is not None and marks and now - first_recv >= marks[0]:
            marks.pop(0)
            sampler.sample()
        if (first_recv is not None and not stopped
                and now - first_recv > spec.seconds + max_lag_s):
            proc.send_signal(signal.SIGINT)  # far behind: not sustained; drain and end
            stopped, stop_at = True, now
            notes.append(f"stopped {max_lag_s:.0f} s after the sources' end")
        if stopped and now - stop_at > 30:
            break
        record = sub.receive(0.2)
        if record is None:
            if proc.poll() is not None:
                break
            continue
        recv = time.time_ns()
        kind, sid = record.get("type"), record.get("stream")
        if sid not in tracks:
            continue
        if kind == "track":
            if first_recv is None:
                first_recv = time.monotonic()
            tracks[sid].append((int(record["pts_ns"]), recv))
            seqs[sid].add(int(record["seq"]))
        elif kind == "event":
            events.append({**record, "received_unix_ns": recv})
        elif kind == "end_of_stream":
            pending.discard(sid)
    if len(sampler.samples) == 1:  # ended before the second mark: sample now
        sampler.sample()
    return pending, stopped


def _lags(tracks: dict[str, list[tuple[int, int]]]) -> list[float]:
    out: list[float] = []
    for rows in tracks.values():
        if not rows:
            continue
        p0 = rows[0][0]
        out += [(recv - pts) / 1e6 for pts, recv in rows if pts - p0 >= WARMUP_S * 1e9]
    return out


def _lag_growth(tracks: dict[str, list[tuple[int, int]]]) -> float:
    """Worst stream's (median lag, last quarter of its pts span) - (median, first quarter
    after the warm-up); inf for a stream with no frames."""
    worst = 0.0
    for rows in tracks.values():
        if len(rows) < 8:
            return float("inf")
        pts = np.array([p for p, _ in rows], np.int64)
        lag = np.array([(r - p) / 1e6 for p, r in rows])
        start = pts[0] + int(WARMUP_S * 1e9)
        span = pts[-1] - start
        if span <= 0:
            return float("inf")
        first = lag[(pts >= start) & (pts < start + span // 4)]
        last = lag[pts >= pts[-1] - span // 4]
        if len(first) and len(last):
            worst = max(worst, float(np.median(last) - np.median(first)))
    return worst


def _breakdown(events: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """(p50, p99) ms of where an event's latency goes, from the wall clocks it carries.
    ``closing_frame_to_spot_emit`` is the wait beyond the look-ahead inside spot: the
    frame that closed the interval existed at pts ``offset + offset_to_clip`` (pts are
    the wall clock here) and spot emitted the clip at ``spot_emit``; it is the frames'
    queueing through capture, align and spot."""
    parts: dict[str, list[float]] = {"offset_to_spot_emit": [],
                                     "closing_frame_to_spot_emit": [], "spot_to_classify": [],
                                     "batch_wait_and_infer": [], "of_which_infer": [],
                                     "classify_to_subscriber": []}
    for e in events:
        spot, arrived, done = (e.get("spot_emit_unix_ns"), e.get("clip_arrived_unix_ns"),
                               e.get("classified_unix_ns"))
        off = (e.get("interval") or {}).get("offset_ns")
        if None in (spot, arrived, done, off):
            continue
        ahead = float((e.get("latency_ms") or {}).get("offset_to_clip") or 0.0)
        parts["offset_to_spot_emit"].append((spot - off) / 1e6)
        parts["closing_frame_to_spot_emit"].append((spot - off) / 1e6 - ahead)
        parts["spot_to_classify"].append((arrived - spot) / 1e6)
        parts["batch_wait_and_infer"].append((done - arrived) / 1e6)
        parts["of_which_infer"].append(float((e.get("latency_ms") or {}).get("infer") or 0.0))
        parts["classify_to_subscriber"].append((e["received_unix_ns"] - done) / 1e6)
    return {k: (float(np.percentile(v, 50)), float(np.percentile(v, 99)))
            for k, v in parts.items() if v}
