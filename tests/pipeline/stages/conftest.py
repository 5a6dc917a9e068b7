"""A stage made in this process, for tests that drive it directly (``process``,
``on_stream_end``, ``tick``, a producer's outboxes) instead of through a subprocess and
sockets: what the runner would hand it, without the runner."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import zmq

from pipeline.config import parse_config
from pipeline.runtime.metrics import StageMetrics
from pipeline.runtime.stage import Stage, StageContext
from pipeline.stages import stage_class

MakeStage = Callable[[dict[str, Any], str], Stage]


@pytest.fixture
def stage_in_process(tmp_path: Path, zctx: zmq.Context) -> Iterator[MakeStage]:
    """``make(config_body, stage_name)``: that stage of the config, set up (models
    loaded, sources prepared) and closed at the end of the test."""
    made: list[Stage] = []

    def make(body: dict[str, Any], name: str) -> Stage:
        cfg = parse_config({"version": 1, **body}, base_dir=tmp_path)
        ctx = StageContext(cfg, name, 0, zctx, StageMetrics(name, 0), threading.Event(),
                           ExitStack())
        stage = stage_class(cfg.stages[name].type)(ctx)
        stage.setup()
        made.append(stage)
        return stage

    yield make
    for stage in made:
        stage.ctx.stop.set()
        stage.close()
        stage.ctx.sockets.close()
