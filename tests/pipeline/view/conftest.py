"""The view's tests: a `mestream view` process, and a pipeline that previews to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Run, write_config


@pytest.fixture
def view_process() -> Iterator:
    """Starts ``mestream view CONFIG ARGS`` processes (stopped with SIGINT at the end)."""
    views: list[Run] = []

    def start(config: Path, *args: str) -> Run:
        views.append(Run(config, *args, command="view"))
        return views[-1]

    yield start
    for view in views:
        view.close()


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


