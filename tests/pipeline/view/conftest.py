"""The view's tests: a `mestream view` process, and a pipeline that previews to it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, mestream, write_config


class ViewProcess:
    def __init__(self, config: Path, *args: str):
        self.log_path = config.parent / "view.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(mestream("view", str(config), *args), cwd=REPO,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     env=os.environ.copy())

    @property
    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def view_process() -> Iterator:
    views: list[ViewProcess] = []

    def start(config: Path, *args: str) -> ViewProcess:
        views.append(ViewProcess(config, *args))
        return views[-1]

    yield start
    for v in views:
        v.close()


def view_config(tmp_path: Path, publish_port: int) -> Path:
    return write_config(tmp_path, {
        "name": "t-view",
        "sources": {"cam": {"type": "python", "factory": "tests.scripted_source:make",
                            "options": {"fps": 30, "seconds": 5, "onset_s": 2.5},
                            # At the camera's pace, as a view is used: the align worker
                            # sees the view's subscription long before the stream ends.
                            "realtime": True}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "alignment": {"size": 64}},
                   "spot": {"type": "spot", "clip_frames": 18, "emit_tracks": True,
                            "track_landmarks": False},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{publish_port}",
                               "wait_subscribers": 1}},
        "view": {"endpoint": f"ipc://{tmp_path}/view.sock", "fps": 10},
    })


