"""What the command line prints: native libraries' info lines (MediaPipe, TF Lite) are
dropped unless --verbose, while the command's own lines and errors pass at once."""

from __future__ import annotations

import subprocess

from pipeline.native_log import is_native_noise
from tests.conftest import REPO, mestream

ASTRONAUT = REPO / "configs" / "examples" / "media" / "astronaut.png"


def preview(tmp_path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(mestream(*flags, "align", "preview", str(ASTRONAUT), "-o",
                                   str(tmp_path / "p.png")),
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_native_chatter_is_dropped_unless_verbose(tmp_path) -> None:
    quiet = preview(tmp_path)
    assert quiet.returncode == 0 and "1 frames rendered" in quiet.stdout
    assert not [line for line in quiet.stderr.splitlines() if is_native_noise(line)]
    loud = preview(tmp_path, "--verbose")
    assert loud.returncode == 0
    assert [line for line in loud.stderr.splitlines() if is_native_noise(line)]


def test_errors_still_reach_stderr(tmp_path) -> None:
    run = subprocess.run(mestream("align", "preview", str(tmp_path / "missing.mp4")),
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "missing.mp4: no such file" in run.stderr


def test_every_line_written_inside_reaches_stderr_even_when_the_block_ends_at_once(
        capfd) -> None:
    """Seen in CI: a command that failed at once (`mestream keys` on existing keys) lost
    its error line: the filter's thread opened its copy of stderr after the block had
    already closed it."""
    import os

    from pipeline.native_log import native_noise_dropped

    for k in range(200):
        with native_noise_dropped():
            os.write(2, f"line {k}\n".encode())
            os.write(2, b"I0000 00:00:1.0   12 x.cc:1] native noise\n")
    assert capfd.readouterr().err.splitlines() == [f"line {k}" for k in range(200)]
