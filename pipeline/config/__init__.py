"""The pipeline YAML: a pydantic schema, one class per YAML node, and a loader whose
errors name the file, the line, the YAML path, the bad value and what was expected.

A pipeline is a mapping of sources (streams) and an ordered mapping of stages; each
stage takes its input from the stage before it unless ``input`` says otherwise. The
runtime derives every endpoint (``ipc://`` under ``transport.ipc_dir``, or ``tcp://``
from ``transport.base_port``); a stage's ``endpoint`` overrides its input address, which
is how one YAML is spread over several hosts.

Three modules: :mod:`~pipeline.config.schema` (what a YAML may say),
:mod:`~pipeline.config.topology` (how its stages connect), :mod:`~pipeline.config.loader`
(reading it, with errors that point into the file). Import from ``pipeline.config``.

Example:
    >>> cfg = parse_config({
    ...     "name": "demo",
    ...     "sources": {"cam0": {"type": "testpattern", "frames": 10}},
    ...     "stages": {"capture": {"type": "capture"}, "publish": {"type": "publish"}},
    ... })
    >>> [s for s in cfg.stages], cfg.upstream("publish")
    (['capture', 'publish'], 'capture')
"""

from __future__ import annotations

from pipeline.config.loader import (
    apply_overrides,
    check_paths,
    duplicate_keys,
    load_config,
    parse_config,
    read_yaml,
    validate_yaml,
)
from pipeline.config.schema import (
    LOOPBACK_HOSTS,
    NETWORK_SCHEMES,
    STAGE_NAME,
    STREAM_ID,
    Alignment,
    AlignSettings,
    CameraSource,
    CaptureSettings,
    ClassifySettings,
    EventLogConfig,
    FileSource,
    GStreamerSource,
    ImageFolderSource,
    Logging,
    Metrics,
    NetworkSource,
    Node,
    PipelineConfig,
    PublishSettings,
    PythonSource,
    Reconnect,
    Security,
    SourceConfig,
    SpotSettings,
    StageConfig,
    StageSettings,
    Supervisor,
    SyntheticSource,
    TestPatternSource,
    Tracking,
    Transport,
    is_loopback,
)
from pipeline.config.topology import Topology
from pipeline.errors import ConfigError

__all__ = [
    "AlignSettings",
    "Alignment",
    "CameraSource",
    "CaptureSettings",
    "ClassifySettings",
    "ConfigError",
    "EventLogConfig",
    "FileSource",
    "ImageFolderSource",
    "LOOPBACK_HOSTS",
    "Logging",
    "Metrics",
    "NETWORK_SCHEMES",
    "NetworkSource",
    "Node",
    "PipelineConfig",
    "PublishSettings",
    "PythonSource",
    "Reconnect",
    "STAGE_NAME",
    "STREAM_ID",
    "Security",
    "SourceConfig",
    "SpotSettings",
    "StageSettings",
    "StageConfig",
    "Supervisor",
    "SyntheticSource",
    "GStreamerSource",
    "TestPatternSource",
    "Topology",
    "Tracking",
    "Transport",
    "apply_overrides",
    "check_paths",
    "duplicate_keys",
    "is_loopback",
    "load_config",
    "parse_config",
    "read_yaml",
    "validate_yaml",
]
