"""The stages a pipeline YAML can name, by ``type``."""

from __future__ import annotations

from pipeline.stage import Stage
from pipeline.stages.capture import CaptureStage
from pipeline.stages.publish import PublishStage

STAGE_TYPES: dict[str, type[Stage]] = {
    "capture": CaptureStage,
    "publish": PublishStage,
}
