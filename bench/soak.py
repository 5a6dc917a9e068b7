"""Soak: a pipeline of N test-pattern streams (capture -> publish, with the event log and
a replaying subscriber) runs for D minutes while the resident memory (RSS) and open
file descriptors of every process (supervisor and each stage) are sampled from /proc.
Flat means: no process restarted, no record lost, and after a warm-up the fitted
slopes of RSS and fds stay under the bounds below.

Bounds, and why they are generous yet catch real leaks: a leak of one 320x240 frame
per second grows RSS by ~13 MiB/min, one leaked socket per minute is 1 fd/min; a steady
Python process moves its RSS by a few MiB as arenas are reused, which over the
sampled window fits a slope well under ``RSS_SLOPE_MIB_PER_MIN``.

Example (the CI version runs 2 minutes with 2 streams: tests/reliability/test_soak.py)::

    python -m bench.soak --streams 8 --minutes 30
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.processes import stage_processes
from pipeline.runtime.sockets import free_tcp_port

RSS_SLOPE_MIB_PER_MIN = 2.0
FD_SLOPE_PER_MIN = 0.5
WARMUP_FRACTION = 0.25  # samples before this share of the run are ignored (start-up)
INCIDENT_MARKS = ("crashed", "no heartbeat", "ERROR", "Traceback", "restarted")


@dataclass
class Series:
    """Samples of one process: (seconds since start, RSS MiB, open fds)."""

    name: str
    pids: set[int] = field(default_factory=set)
    samples: list[tuple[float, float, int]] = field(default_factory=list)


def proc_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def proc_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def children(pid: int) -> dict[int, str]:
    """Direct children of ``pid`` -> the stage they run (``capture.0``...)."""
    return {p: f"{stage}.{replica}" for p, (stage, replica) in stage_processes(pid).items()}


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mx) * (v - my) for t, v in points) / var * 60


def soak_config(streams: int, port: int, workdir: Path) -> Path:
    sources = {f"cam{i}": {"type": "testpattern", "width": 320, "height": 240, "fps": 25,
                           "realtime": True} for i in range(streams)}
    body = {
        "version": 1, "name": "soak", "sources": sources,
        "stages": {"capture": {"type": "capture", "replicas": 2 if streams > 1 else 1},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1,
                               "event_log": {"dir": str(workdir / "events"),
                                             "segment_bytes": 8 << 20,
                                             "retain_bytes": 64 << 20}}},
        "transport": {"ipc_dir": str(workdir / "run")},
        "metrics": {"log_interval_s": 0},
    }
    path = workdir / "soak.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def run_soak(streams: int, seconds: float, sample_s: float = 5.0) -> dict[str, Any]:
    """Run the soak; returns per-process series, record counts and the verdict."""
    from pipeline.client import EventSubscriber

    port = free_tcp_port(consecutive=2)
    with tempfile.TemporaryDirectory(prefix="mestream-soak-") as tmp:
        workdir = Path(tmp)
        config = soak_config(streams, port, workdir)
        counts = {"records": 0, "lost": 0}
        stop = threading.Event()
        subscribed = threading.Event()

        def consume() -> None:
            with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
                subscribed.set()
                while not stop.is_set():
                    if sub.receive(0.5) is not None:
                        counts["records"] += 1
                counts["lost"] = sub.lost

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        subscribed.wait(10)
        log = (workdir / "run.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "mestream.cli", "run", str(config)],
                                stdout=subprocess.DEVNULL, stderr=log)
        series: dict[str, Series] = {"supervisor": Series("supervisor", {proc.pid})}
        start = time.monotonic()
        try:
            while time.monotonic() - start < seconds and proc.poll() is None:
                t = time.monotonic() - start
                for pid, name in [(proc.pid, "supervisor"), *children(proc.pid).items()]:
                    rss, fds = proc_rss_mib(pid), proc_fds(pid)
                    if rss is None or fds is None:
                        continue
                    s = series.setdefault(name, Series(name))
                    s.pids.add(pid)
                    s.samples.append((t, rss, fds))
                time.sleep(sample_s)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            stop.set()
            reader.join(10)
            log.close()
        exit_code = proc.returncode
        # What a restart or an error was, kept before the folder goes.
        incidents = [line for line in (workdir / "run.log").read_text(errors="replace")
                     .splitlines() if any(k in line for k in INCIDENT_MARKS)]
    result = _verdict(series, counts, seconds, streams, exit_code)
    result["incidents"] = incidents[:40]
    return result


def _verdict(series: dict[str, Series], counts: dict[str, int], seconds: float,
             streams: int, exit_code: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"streams": streams, "seconds": seconds, "exit_code": exit_code,
                           "records": counts["records"], "lost": counts["lost"],
                           "processes": {}}
    flat = exit_code == 0 and counts["lost"] == 0
    for name, s in sorted(series.items()):
        late = [x for x in s.samples if x[0] >= seconds * WARMUP_FRACTION]
        rss_slope = slope_per_min([(t, r) for t, r, _ in late])
        fd_slope = slope_per_min([(t, float(f)) for t, _, f in late])
        ok = (len(s.pids) == 1 and abs(rss_slope) < RSS_SLOPE_MIB_PER_MIN
              and abs(fd_slope) < FD_SLOPE_PER_MIN)
        flat = flat and ok
        out["processes"][name] = {
            "restarts": len(s.pids) - 1, "samples": len(s.samples),
            "rss_mib_first": late[0][1] if late else None,
            "rss_mib_last": late[-1][1] if late else None,
            "rss_mib_max": max((r for _, r, _ in s.samples), default=None),
            "rss_slope_mib_per_min": rss_slope,
            "fds_first": late[0][2] if late else None, "fds_last": late[-1][2] if late else None,
            "fd_slope_per_min": fd_slope, "flat": ok}
    out["flat"] = flat
    return out


def soak_rows(quick: bool) -> list[tuple[str, str, str, str]]:
    """Benchmark rows (benchmark, result, statistic, target) for ``mestream bench``:
    quick: 2 streams for 1 minute; full: 8 streams for 30 minutes."""
    streams, minutes = (2, 1.0) if quick else (8, 30.0)
    r = run_soak(streams, minutes * 60, sample_s=2.0 if quick else 10.0)
    rows = [(f"soak: {streams} streams x {minutes:g} min (capture -> publish + event log)",
             f"{'flat' if r['flat'] else 'NOT flat'}: {r['records']:,} records, "
             f"{r['lost']} lost, exit {r['exit_code']}",
             f"{r['records'] / (minutes * 60):,.0f} records/s",
             "no restart, no loss, RSS and fds flat")]
    for name, p in r["processes"].items():
        rows.append((f"soak: {name} RSS / open fds",
                     f"RSS {p['rss_mib_first']:.0f} -> {p['rss_mib_last']:.0f} MiB, "
                     f"fds {p['fds_first']} -> {p['fds_last']}, restarts {p['restarts']}",
                     f"{p['rss_slope_mib_per_min']:+.2f} MiB/min, "
                     f"{p['fd_slope_per_min']:+.2f} fds/min",
                     f"|RSS slope| < {RSS_SLOPE_MIB_PER_MIN} MiB/min, "
                     f"|fd slope| < {FD_SLOPE_PER_MIN}/min"))
    if r["incidents"]:
        rows.append(("soak: incidents in the run log", f"{len(r['incidents'])} lines; first: "
                     f"{r['incidents'][0][:160]}", "-", "none"))
    return rows


if __name__ == "__main__":  # python -m bench.soak [--streams N] [--minutes M]
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--sample-s", type=float, default=10.0)
    a = ap.parse_args()
    result = run_soak(a.streams, a.minutes * 60, a.sample_s)
    for name, p in result["processes"].items():
        print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in p.items()})
    print({k: v for k, v in result.items() if k not in ("processes", "incidents")})
    for line in result["incidents"]:
        print("incident:", line)
