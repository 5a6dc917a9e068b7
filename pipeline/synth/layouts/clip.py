"""The input of every layout writer: one subject's clip (or long video) and its events."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.synth.truth import ExpressionEvent


@dataclass
class DatasetClip:
    """Frames of one clip / long video of one subject, with the events inside it.

    Event frame indices are 0-based and relative to ``frames[0]``; each writer turns them
    into the dataset's absolute image numbers.
    """

    subject: int                      # 1-based subject number within the dataset
    frames: Sequence[np.ndarray]      # BGR uint8 frames (H, W, 3) of this clip / long video
    events: list[ExpressionEvent]     # events in this clip, frame indices relative to frames[0]
    name: str | None = None           # optional clip/video name; else the official-style one

    def check(self, fps: float, dataset: str) -> None:
        """Raise ``ValueError`` if this clip cannot be written faithfully into ``dataset``."""
        where = f"{dataset}: subject {self.subject}, clip {self.name or '(unnamed)'}"
        if self.subject < 1:
            raise ValueError(f"{where}: subject numbers are 1-based, got {self.subject}")
        if len(self.frames) == 0:
            raise ValueError(f"{where}: no frames")
        if self.name is not None and (not self.name or "/" in self.name or "\\" in self.name):
            raise ValueError(f"{where}: a clip name must be a non-empty single path component")
        for ev in self.events:
            if not 0 <= ev.onset <= ev.apex <= ev.offset < len(self.frames):
                raise ValueError(f"{where}: event {ev.onset}/{ev.apex}/{ev.offset} "
                                 f"(onset/apex/offset) is not inside its {len(self.frames)} "
                                 "frames in order")
            # The sheets store frame numbers only: an event timed at another rate would
            # silently mean other milliseconds once read back at the dataset's rate.
            if abs(ev.fps - fps) > 1e-6:
                raise ValueError(f"{where}: event at {ev.fps} fps in a {fps} fps dataset")

    def only_micro_event(self, dataset: str) -> ExpressionEvent:
        """The single micro-expression of a clipped-ME dataset sample (CASME II, SAMM:
        one sample folder = one ME)."""
        if len(self.events) != 1 or self.events[0].kind != "micro":
            kinds = [e.kind for e in self.events]
            raise ValueError(f"{dataset}: a clip holds exactly one micro-expression, "
                             f"subject {self.subject} clip {self.name!r} has {kinds}")
        return self.events[0]


def first_frame_number(key: str, low: int, span: int) -> int:
    """A deterministic absolute number for a clip's first image, in ``[low, low + span)``.

    The real clips are cut out of longer recordings, so their images start at arbitrary
    numbers (``img46.jpg``); readers must not assume 1. crc32 rather than ``hash()``
    because string hashing is salted per process and the bytes must repeat.
    """
    return low + zlib.crc32(key.encode()) % span
