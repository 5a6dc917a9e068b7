"""The stages a pipeline YAML can name, by ``type``.

Each stage module is imported only by the process that runs it, so a publish process
never loads face models and a capture process never loads an inference engine.
"""

from __future__ import annotations

from importlib import import_module

from pipeline.runtime.stage import Stage

STAGE_TYPES: dict[str, str] = {
    "capture": "pipeline.stages.capture.stage:CaptureStage",
    "align": "pipeline.stages.align:AlignStage",
    "spot": "pipeline.stages.spot.stage:SpotStage",
    "classify": "pipeline.stages.classify.stage:ClassifyStage",
    "publish": "pipeline.stages.publish.stage:PublishStage",
}


def stage_class(type_name: str) -> type[Stage]:
    """The class implementing stage type ``type_name``."""
    module, _, name = STAGE_TYPES[type_name].partition(":")
    return getattr(import_module(module), name)
