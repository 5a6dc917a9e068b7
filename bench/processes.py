"""The stage processes of a running pipeline, found in /proc (Linux): what the soak and
load benchmarks sample (RSS, open fds, CPU time) per stage."""

from __future__ import annotations

from pathlib import Path

from pipeline.runtime.stage_main import stage_of_argv


def stage_processes(parent_pid: int) -> dict[int, tuple[str, int]]:
    """pid -> (stage, replica) of the direct children of ``parent_pid`` (a supervisor)
    that are stage processes."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[1]) != parent_pid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        stage = stage_of_argv([a.decode(errors="replace") for a in argv])
        if stage is not None:
            out[int(entry.name)] = stage
    return out
