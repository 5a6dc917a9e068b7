"""How the stages of a pipeline YAML connect: who feeds whom, which replica handles
which stream, where each one binds. :class:`~pipeline.config.schema.PipelineConfig`
inherits these (``cfg.upstream("publish")``); the schema's own checks of the wiring use
them too."""

from __future__ import annotations

import os
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any


class Topology:
    """The wiring rules of a pipeline (mixed into its schema class)."""

    if TYPE_CHECKING:  # the schema's fields these rules read
        sources: dict[str, Any]
        stages: dict[str, Any]
        transport: Any
        name: str

    def upstream(self, stage: str) -> str | None:
        """The stage feeding ``stage`` (None for capture stages)."""
        cfg = self.stages[stage]
        if cfg.type == "capture":
            return None
        if cfg.input is not None:
            return cfg.input
        names = list(self.stages)
        return names[names.index(stage) - 1]

    def downstream(self, stage: str) -> list[str]:
        return [n for n in self.stages if self.upstream(n) == stage]

    def replicas(self, stage: str) -> int:
        return getattr(self.stages[stage], "replicas", 1)

    def sources_of(self, stage: str, replica: int = 0) -> list[str]:
        """Source ids read by one replica of a capture stage (round-robin shard)."""
        cfg = self.stages[stage]
        ids = cfg.sources or list(self.sources)
        return ids[replica :: self.replicas(stage)]

    def shard_of(self, stage: str, stream: str) -> int:
        """The replica of ``stage`` that handles ``stream``: streams are dealt round-robin
        in the order of ``sources``, so one stream always meets the same worker."""
        n = self.replicas(stage)
        if n == 1:
            return 0
        ids = list(self.sources)
        if stream in ids:
            return ids.index(stream) % n
        return zlib.crc32(stream.encode()) % n  # a stream the YAML does not name

    def expected_streams(self, stage: str | None = None, replica: int = 0) -> set[str]:
        """The streams whose end-of-stream one replica of ``stage`` waits for."""
        if stage is None or self.replicas(stage) == 1:
            return set(self.sources)
        return {s for s in self.sources if self.shard_of(stage, s) == replica}

    def run_dir(self) -> Path:
        if self.transport.ipc_dir is not None:
            return self.transport.ipc_dir
        return Path(tempfile.gettempdir()) / f"mestream-{os.getuid()}" / self.name

    def input_endpoint(self, stage: str, replica: int = 0) -> str:
        """Where one replica of ``stage`` binds its input. Replicas after the first get
        ``.<replica>`` added to an ipc path, or ``+ replica`` to a tcp port."""
        cfg = self.stages[stage]
        if cfg.endpoint:
            if replica == 0:
                return cfg.endpoint
            if cfg.endpoint.startswith("tcp://"):
                host, port = cfg.endpoint.rsplit(":", 1)
                return f"{host}:{int(port) + replica}"
            return f"{cfg.endpoint}.{replica}"
        if self.transport.kind == "ipc":
            suffix = f".{replica}" if replica else ""
            return f"ipc://{self.run_dir() / (stage + suffix + '.ipc')}"
        # One port per (stage, replica) that binds an input, in pipeline order.
        slots = [(n, r) for n in self.stages if self.stages[n].type != "capture"
                 for r in range(self.replicas(n))]
        port = self.transport.base_port + 1 + slots.index((stage, replica))
        return f"tcp://{self.transport.host}:{port}"

    def control_endpoint(self) -> str:
        if self.transport.kind == "ipc":
            return f"ipc://{self.run_dir() / 'control.ipc'}"
        return f"tcp://{self.transport.host}:{self.transport.base_port}"
