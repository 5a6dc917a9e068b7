"""Ground truth of synthetic footage: what happened, when, where and how strongly.

Every generated video comes with a :class:`GroundTruth`: its expression events (micro
and macro, with onset / apex / offset as frame index and milliseconds, the label in
its label set, the action units and the apex intensity) and its distractor events
(blinks, head motion, speech, illumination), written as JSON and CSV.

Example:
    >>> ev = ExpressionEvent(stream="synth0", face=0, onset=10, apex=14, offset=19,
    ...                      fps=30.0, kind="micro", label="surprise",
    ...                      label_set="megc3", aus=("AU1", "AU2"), intensity_px=2.0)
    >>> ev.apex_ms, ev.duration_ms
    (466.667, 333.333)
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CSV_COLUMNS = ["stream", "face", "kind", "label", "label_set", "aus", "intensity_px",
               "onset_frame", "apex_frame", "offset_frame", "onset_ms", "apex_ms",
               "offset_ms", "duration_ms", "fps"]


def frame_ms(frame: int, fps: float) -> float:
    """Milliseconds from the start of the video to the start of ``frame``."""
    return round(frame * 1000.0 / fps, 3)


@dataclass(frozen=True, slots=True)
class ExpressionEvent:
    """One facial expression in a video: frames are 0-based indices into the video;
    ``offset`` is the last frame of the event (inclusive), as the ME datasets code it."""

    stream: str
    face: int                 # which face of the scene (0 = the first)
    onset: int
    apex: int
    offset: int
    fps: float
    kind: str                 # "micro" or "macro"
    label: str                # class name in ``label_set``
    label_set: str            # "megc3" | "casme_sq3" | "casme2" (see pipeline.synth.labels)
    aus: tuple[str, ...]      # e.g. ("AU1", "AU2"), FACS codes as CASME II writes them
    intensity_px: float       # apex displacement, pixels on a 128 px aligned face

    @property
    def onset_ms(self) -> float:
        return frame_ms(self.onset, self.fps)

    @property
    def apex_ms(self) -> float:
        return frame_ms(self.apex, self.fps)

    @property
    def offset_ms(self) -> float:
        return frame_ms(self.offset, self.fps)

    @property
    def duration_ms(self) -> float:
        return round((self.offset - self.onset + 1) * 1000.0 / self.fps, 3)

    def record(self) -> dict[str, Any]:
        """One flat row (JSON object / CSV row)."""
        row = asdict(self)
        row["aus"] = "+".join(self.aus)
        row.update(onset_frame=self.onset, apex_frame=self.apex, offset_frame=self.offset,
                   onset_ms=self.onset_ms, apex_ms=self.apex_ms, offset_ms=self.offset_ms,
                   duration_ms=self.duration_ms)
        for key in ("onset", "apex", "offset"):
            row.pop(key)
        return {k: row[k] for k in CSV_COLUMNS}


@dataclass(frozen=True, slots=True)
class DistractorEvent:
    """A movement a spotter must NOT report: ``kind`` is one of ``blink``,
    ``head_translation``, ``head_rotation``, ``head_drift``, ``speech``,
    ``illumination``; frames as in :class:`ExpressionEvent`."""

    stream: str
    face: int
    kind: str
    start: int
    end: int                  # inclusive
    fps: float
    magnitude: float          # px, degrees or relative brightness, by kind

    def record(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(start_ms=frame_ms(self.start, self.fps), end_ms=frame_ms(self.end, self.fps))
        return row


@dataclass
class GroundTruth:
    """Everything known about one synthetic video."""

    stream: str
    fps: float
    frames: int
    width: int
    height: int
    seed: int
    subjects: list[str] = field(default_factory=list)   # identity of each face
    events: list[ExpressionEvent] = field(default_factory=list)
    distractors: list[DistractorEvent] = field(default_factory=list)
    note: str = ("synthetic micro-expressions: action-unit-like deformations added to "
                 "real faces by mestream's generator; not recorded expressions")

    def to_json(self) -> dict[str, Any]:
        return {"stream": self.stream, "fps": self.fps, "frames": self.frames,
                "width": self.width, "height": self.height, "seed": self.seed,
                "subjects": self.subjects, "note": self.note,
                "events": [e.record() for e in self.events],
                "distractors": [d.record() for d in self.distractors]}

    def write(self, stem: Path) -> tuple[Path, Path]:
        """Write ``<stem>.json`` and ``<stem>.csv`` (events only); return both paths."""
        js, cs = stem.with_suffix(".json"), stem.with_suffix(".csv")
        js.write_text(json.dumps(self.to_json(), indent=1))
        with cs.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            w.writeheader()
            for e in self.events:
                w.writerow(e.record())
        return js, cs

    @classmethod
    def read(cls, path: Path) -> GroundTruth:
        """Read back a ``.json`` written by :meth:`write`."""
        d = json.loads(Path(path).read_text())
        events = [ExpressionEvent(
            stream=e["stream"], face=e["face"], onset=e["onset_frame"], apex=e["apex_frame"],
            offset=e["offset_frame"], fps=e["fps"], kind=e["kind"], label=e["label"],
            label_set=e["label_set"], aus=tuple(a for a in e["aus"].split("+") if a),
            intensity_px=e["intensity_px"]) for e in d["events"]]
        distractors = [DistractorEvent(
            stream=x["stream"], face=x["face"], kind=x["kind"], start=x["start"], end=x["end"],
            fps=x["fps"], magnitude=x["magnitude"]) for x in d["distractors"]]
        return cls(d["stream"], d["fps"], d["frames"], d["width"], d["height"], d["seed"],
                   d["subjects"], events, distractors, d["note"])
