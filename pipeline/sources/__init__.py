"""Frame sources: files, image folders, cameras, network streams, GStreamer pipelines, a
test pattern, and
any Python factory (the hook the synthetic micro-expression scene plugs into)."""

from __future__ import annotations

import importlib
from typing import Any

from pipeline.config import (
    CameraSource,
    FileSource,
    GStreamerSource,
    ImageFolderSource,
    NetworkSource,
    PythonSource,
    SyntheticSource,
    TestPatternSource,
)
from pipeline.errors import SourceError
from pipeline.sources.base import BadFrame, Source
from pipeline.sources.images import ImageFolderSource as ImageFolderReader
from pipeline.sources.testpattern import TestPatternSource as TestPatternReader
from pipeline.sources.video import OpenCVSource

__all__ = ["BadFrame", "Source", "SourceError", "open_source"]


def open_source(stream: str, cfg: Any) -> Source:
    """Build (not yet open) the reader for one configured source."""
    if isinstance(cfg, FileSource):
        return OpenCVSource(stream, str(cfg.path), live=False, fps=cfg.fps)
    if isinstance(cfg, ImageFolderSource):
        return ImageFolderReader(stream, cfg.path, cfg.fps, cfg.glob)
    if isinstance(cfg, CameraSource):
        size = (cfg.width, cfg.height) if cfg.width and cfg.height else None
        return OpenCVSource(stream, cfg.device, live=True, fps=cfg.fps, size=size)
    if isinstance(cfg, NetworkSource):
        return OpenCVSource(stream, cfg.url, live=True, open_timeout_s=cfg.open_timeout_s,
                            read_timeout_s=cfg.read_timeout_s)
    if isinstance(cfg, GStreamerSource):
        from pipeline.sources.gstreamer import GStreamerSource as GStreamerReader

        return GStreamerReader(stream, cfg.pipeline, live=cfg.live, fps=cfg.fps)
    if isinstance(cfg, TestPatternSource):
        return TestPatternReader(stream, cfg.width, cfg.height, cfg.fps, cfg.frames)
    if isinstance(cfg, SyntheticSource):
        # Imported here: only a capture process with a synthetic source loads the face
        # models the generator needs.
        from pipeline.synth.source import synthetic_source

        return synthetic_source(stream, seed=cfg.seed, fps=cfg.fps, width=cfg.width,
                                height=cfg.height, seconds=cfg.seconds,
                                faces=[str(f) for f in cfg.faces] or None,
                                event_rate=cfg.events_per_minute, label_set=cfg.label_set,
                                micro_fraction=cfg.micro_fraction,
                                noise_sigma=cfg.noise_sigma, deformation=cfg.deformation)
    if isinstance(cfg, PythonSource):
        module, _, attr = cfg.factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise SourceError(f"{stream}: cannot load factory {cfg.factory!r}: {exc}") from exc
        return factory(stream, **cfg.options)
    raise SourceError(f"{stream}: unsupported source type {type(cfg).__name__}")
