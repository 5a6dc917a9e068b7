"""Shared fixtures: real processes, real sockets, never a sleep-and-hope."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
import zmq

from pipeline.runtime.sockets import free_tcp_port

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "real"
GRID = SHARED / "grid"
BUNDLED_CLIP = REPO / "configs" / "examples" / "media" / "grid_bbaf2n.mpg"


def free_port() -> int:
    return free_tcp_port()


def grid_clip(name: str = "bbaf2n.mpg") -> Path:
    """A real GRID clip from ../shared (tests may read it); the bundled copy otherwise."""
    path = GRID / name
    return path if path.exists() else BUNDLED_CLIP


def write_config(tmp_path: Path, body: dict[str, Any], name: str = "pipeline.yaml") -> Path:
    body = {"version": 1, **body}
    body.setdefault("transport", {}).setdefault("ipc_dir", str(tmp_path / "run"))
    body.setdefault("supervisor", {}).setdefault("startup_timeout_s", 60)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def mestream(*args: str) -> list[str]:
    return [sys.executable, "-m", "mestream.cli", *args]


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Run:
    """A ``mestream run`` (or another ``command`` on a config: ``view``) in the
    background, its stderr (and, but for ``run``, its stdout) kept in a file."""

    def __init__(self, config: Path, *extra: str, env: dict[str, str] | None = None,
                 command: str = "run"):
        self.command = command
        suffix = ".log" if command == "run" else f".{command}.log"
        self.log_path = config.parent / (config.stem + suffix)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            mestream(command, str(config), *extra), cwd=REPO,
            stdout=subprocess.PIPE if command == "run" else self._log,
            stderr=self._log, env={**os.environ, **(env or {})},
        )

    def stage_pids(self, stage: str | None = None) -> list[int]:
        pids = child_pids(self.proc.pid)
        if stage is None:
            return pids
        from pipeline.runtime.stage_main import stage_of_argv

        return [p for p in pids
                if (stage_of_argv(cmdline(p).split(" ")) or ("",))[0] == stage]

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"mestream {self.command} still running after {timeout}s; "
                                 "its log:\n" + self.log) from None

    @property
    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def zctx() -> Iterator[zmq.Context]:
    """A ZeroMQ context for a test's own sockets (a peer, a sink, a rogue), destroyed
    with linger 0 at the end: a failing test that left a socket open or a message
    queued never hangs the run on it."""
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def run_pipeline() -> Iterator[Any]:
    runs: list[Run] = []

    def start(config: Path, *extra: str, env: dict[str, str] | None = None) -> Run:
        run = Run(config, *extra, env=env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.close()


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll a condition that reflects a message already exchanged (e.g. a /proc
    entry); fail with ``what`` if it does not come true in ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg not installed (make test installs it)")
