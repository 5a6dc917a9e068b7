"""Capture: read the sources, stamp seq and pts, hand frames to the runner.

One :class:`StreamReader` per source, each reading in its own thread into its own
outbox, so a slow or dead source never holds up the others; the runner sends every
stream's messages through its own sockets, as for every other stage (a full link holds
back only the streams routed to it). Every ``transport.watermark_every`` frames a
stream also sends a watermark.

After a crash of capture itself the supervisor passes each stream's last reported seq:
files replay from a little before it (downstream drops the duplicates), live sources
carry on. After a crash of a stage downstream the supervisor sends ``rewind``: a file
stream is read again from the frame the last stage's watermark names, as a new epoch; a
live stream only moves to the new epoch (the rules: :mod:`pipeline.runtime.recovery`;
what is lost: docs/operations.md).
"""

from __future__ import annotations

import threading

from pipeline.config import CaptureSettings
from pipeline.errors import SourceError
from pipeline.runtime.outbox import Outbox
from pipeline.runtime.stage import Stage
from pipeline.sources import Source, open_source
from pipeline.stages.capture.stream_reader import StreamReader


class CaptureStage(Stage[CaptureSettings]):
    has_input = False

    def setup(self) -> None:
        cfg = self.ctx.config
        self.ready = threading.Condition()  # any stream's outbox got a message
        self.readers: dict[str, StreamReader] = {}
        next_stage = cfg.downstream(self.ctx.name)[0]
        for sid in cfg.sources_of(self.ctx.name, self.ctx.replica):
            # Each stream goes to the replica of the next stage that handles it.
            target = cfg.input_endpoint(next_stage, cfg.shard_of(next_stage, sid))
            self.readers[sid] = StreamReader(sid, cfg, target, self.ready, self.ctx.stop,
                                             self.ctx.metrics, self.log,
                                             prepared=self._prepared(sid))

    def _prepared(self, sid: str) -> Source | None:
        """The source, its slow one-off work done (the synthetic scene loads its faces
        and may pre-render a loop) before the stage reports ready: otherwise streams
        would start one after another while the first ones already run. None when it
        has no such work or it failed (the reader meets the failure again, and
        reports it)."""
        try:
            src = open_source(sid, self.ctx.config.sources[sid])
        except SourceError:
            return None
        prepare = getattr(src, "prepare", None)
        if prepare is None:
            return None
        try:
            prepare()
        except Exception as exc:  # noqa: BLE001  (the stream's reader meets it again)
            self.log.warning("stream %s: preparing the source failed: %s", sid, exc)
            return None
        return src

    def start(self, resume: dict[str, int]) -> None:
        for sid, reader in self.readers.items():
            reader.epoch = self.ctx.epochs.get(sid, 0)
            reader.start(resume.get(sid))

    def outboxes(self) -> dict[str, Outbox]:
        return {sid: reader.outbox for sid, reader in self.readers.items()}

    def wait_ready(self, timeout_s: float) -> None:
        with self.ready:
            if not any(len(r.outbox) for r in self.readers.values()):
                self.ready.wait(timeout_s)

    def finished(self) -> bool:
        return all(reader.idle for reader in self.readers.values())

    def rewind(self, streams: dict[str, tuple[int, int]]) -> None:
        for sid, (seq, epoch) in streams.items():
            reader = self.readers.get(sid)
            if reader is not None:  # not ours otherwise
                reader.rewind(seq, epoch)

    def stop_reading(self, timeout_s: float) -> None:
        """After a stop: let each reader end its pass (its end-of-stream queued)."""
        for reader in self.readers.values():
            reader.join(timeout_s)

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
