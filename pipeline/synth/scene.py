"""A synthetic scene: real faces with planned micro/macro expressions and distractors.

Everything is drawn from ``SceneSpec.seed`` through ``np.random.default_rng`` streams keyed
by (seed, purpose, face, chunk / frame): no global RNG, no clock, so the same spec gives
the same frames bit for bit, and any frame can be rendered on its own (:meth:`render`).

Example (needs the bundled media)::

    scene = SyntheticScene(SceneSpec(seed=1, seconds=10))
    for image, pts_ns in scene.frames():
        ...
    scene.truth.events          # what happened, when, and how strongly
    write_video(SceneSpec(seed=1, seconds=10), Path("out/s1.mp4"))   # + s1.json, s1.csv
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipeline.synth.base_faces import BaseFace, load_base_faces
from pipeline.synth.deformation import Roi, grid_roi
from pipeline.synth.deformation_model import DeformationModel, DeformationSpec
from pipeline.synth.distractors import (
    DistractorSpec,
    DistractorState,
    PlannedDistractor,
    distractor_state,
    plan_distractors,
)
from pipeline.synth.face_layer import FaceLayer
from pipeline.synth.labels import label_set
from pipeline.synth.noise import NoiseBank, jpeg
from pipeline.synth.planner import ExpressionPlan, plan_expressions
from pipeline.synth.subject import SubjectLook
from pipeline.synth.truth import DistractorEvent, ExpressionEvent, GroundTruth

CHUNK_S = 60.0
"""Events are planned per chunk of this many seconds (lazily for endless scenes)."""
PICK_TAG = 0x91C4
DISTRACTOR_TAG = 0xD157


@dataclass
class SceneSpec:
    """What to generate. ``seconds`` or ``frames`` (frames wins) bound the scene; both None
    = endless. ``faces``: base faces or paths (files / folders; default the bundled
    astronaut and GRID clip); ``faces_per_scene`` of them are drawn by the seed and placed
    side by side. ``script``: fixed expression events instead of random ones (tests,
    demos). Displacements are px on a 128 px aligned face."""

    seed: int
    fps: float = 30.0
    width: int = 640
    height: int = 480
    seconds: float | None = None
    frames: int | None = None
    faces: list[BaseFace | str | Path] | None = None
    faces_per_scene: int = 1
    label_set: str = "megc3"
    events_per_minute: float = 6.0
    micro_fraction: float = 0.7
    micro_ms: tuple[float, float] = (170.0, 500.0)
    macro_ms: tuple[float, float] = (500.0, 4000.0)
    micro_px: tuple[float, float] = (1.0, 3.0)
    macro_px: tuple[float, float] = (4.0, 10.0)
    distractors: DistractorSpec = field(default_factory=DistractorSpec)
    stream: str = "synth0"
    script: list[ExpressionEvent] | None = None
    deformation: DeformationSpec = field(default_factory=DeformationSpec)
    """How expressions are planted: mestream's generator (``rbf``, randomisable) or the
    held-out ``muscle`` model (:mod:`pipeline.synth.deformation_model`)."""

    @property
    def total_frames(self) -> int | None:
        """Frames in the scene, None if endless."""
        if self.frames is not None:
            return int(self.frames)
        if self.seconds is not None:
            return round(self.seconds * self.fps)
        return None


def _base_faces(spec: SceneSpec) -> list[BaseFace]:
    items = spec.faces
    if items is None:
        return load_base_faces()
    loaded = [f for f in items if isinstance(f, BaseFace)]
    paths = [f for f in items if not isinstance(f, BaseFace)]
    return loaded + (load_base_faces(paths) if paths else [])


class SyntheticScene:
    """Renders a :class:`SceneSpec`; ``truth`` holds the events planned so far (all of them
    for a finite scene)."""

    def __init__(self, spec: SceneSpec):
        if spec.fps <= 0 or spec.width < 32 or spec.height < 32:
            raise ValueError(f"bad scene size/rate: {spec.width}x{spec.height} @ {spec.fps}")
        label_set(spec.label_set)   # fail early on an unknown label set
        self.spec = spec
        self.total = spec.total_frames
        pool = _base_faces(spec)
        k = max(1, spec.faces_per_scene)
        pick = np.random.default_rng([spec.seed, PICK_TAG])
        order = pick.permutation(len(pool))
        chosen = [pool[int(order[j % len(pool)])] for j in range(k)]
        cell_w = spec.width // k
        model = DeformationModel(spec.deformation)
        self.layers = [
            FaceLayer(face, SubjectLook.draw(spec.seed, face.subject),
                      Roi(j * cell_w, 0, spec.width if j == k - 1 else (j + 1) * cell_w,
                          spec.height), spec.fps, deformation=model)
            for j, face in enumerate(chosen)
        ]
        self.noise = NoiseBank(spec.distractors.noise_sigma, spec.width, spec.height, spec.seed)
        self.chunk_frames = max(1, round(CHUNK_S * spec.fps))
        self._plan = ExpressionPlan(spec.label_set, spec.events_per_minute, spec.micro_fraction,
                                    spec.micro_ms, spec.macro_ms, spec.micro_px, spec.macro_px)
        self._chunks: dict[int, tuple[list[list[ExpressionEvent]],
                                      list[list[PlannedDistractor]]]] = {}
        self.truth = GroundTruth(
            stream=spec.stream, fps=spec.fps, frames=self.total or 0, width=spec.width,
            height=spec.height, seed=spec.seed, subjects=[f.subject for f in chosen])
        if self.total is not None:
            for c in range(math.ceil(self.total / self.chunk_frames)):
                self._chunk(c)

    # -- planning ----------------------------------------------------------------------

    def _chunk(self, c: int) -> tuple[list[list[ExpressionEvent]], list[list[PlannedDistractor]]]:
        got = self._chunks.get(c)
        if got is not None:
            return got
        spec = self.spec
        start = c * self.chunk_frames
        end = start + self.chunk_frames
        if self.total is not None:
            end = min(end, self.total)
        expressions: list[list[ExpressionEvent]] = []
        distractors: list[list[PlannedDistractor]] = []
        for j, layer in enumerate(self.layers):
            if spec.script is not None:
                evs = [e for e in spec.script if e.face == j and start <= e.onset < end]
            else:
                evs = plan_expressions(self._plan, spec.seed, spec.stream, j, c, start, end,
                                       spec.fps)
            rng = np.random.default_rng([spec.seed, DISTRACTOR_TAG, j, c])
            dis = plan_distractors(spec.distractors, rng, spec.stream, j, start, end, spec.fps,
                                   still=layer.base.still)
            expressions.append(evs)
            distractors.append(dis)
            self.truth.events.extend(evs)
            self.truth.distractors.extend(p.event for p in dis)
        self.truth.events.sort(key=lambda e: (e.onset, e.face))
        self.truth.distractors.sort(key=lambda d: (d.start, d.face, d.kind))
        self._chunks[c] = (expressions, distractors)
        return expressions, distractors

    def active(self, i: int, face: int = 0) -> tuple[list[ExpressionEvent],
                                                      list[PlannedDistractor]]:
        """Expression events and distractors of ``face`` that touch frame ``i``."""
        expressions, distractors = self._chunk(i // self.chunk_frames)
        if self.spec.script is not None:
            # A scripted event may run past its chunk's end.
            evs = [e for e in self.spec.script if e.face == face and e.onset <= i <= e.offset]
        else:
            evs = [e for e in expressions[face] if e.onset <= i <= e.offset]
        return evs, [p for p in distractors[face] if p.event.start <= i <= p.event.end]

    # -- rendering ---------------------------------------------------------------------

    def control_displacement(self, i: int, face: int = 0, expressions: bool = True,
                             distractors: bool = True) -> np.ndarray | None:
        """Canonical forward displacement (C, 2) of the control points at frame ``i``, or
        None when nothing deforms the face."""
        layer = self.layers[face]
        b = layer.base_index(i)
        evs, dis = self.active(i, face)
        total = np.zeros((len(layer.deformation.control), 2))
        moved = False
        if expressions:
            for e in evs:
                w = layer.deformation.envelope(i, e.onset, e.apex, e.offset)
                if w > 0:
                    total += (w * e.intensity_px) * layer.combo_unit(b, e.aus)
                    moved = True
        if distractors and dis:
            st = distractor_state(dis, i)
            if st.blink > 0:
                total += layer.blink_displacement(b, st.blink)
                moved = True
            if st.speech_px > 0:
                total += layer.speech_displacement(st.speech_px, b)
                moved = True
        return total if moved else None

    def state(self, i: int, face: int = 0) -> DistractorState:
        """Head pose / gain / blink of ``face`` at frame ``i``."""
        return distractor_state(self.active(i, face)[1], i)

    def render(self, i: int, expressions: bool = True, noise: bool = True) -> np.ndarray:
        """Frame ``i`` (BGR uint8 H x W x 3). ``expressions=False`` renders the same frame
        without the expression events (distractors kept); ``noise=False`` skips sensor
        noise and JPEG."""
        if i < 0 or (self.total is not None and i >= self.total):
            raise IndexError(f"frame {i} outside the scene (0..{self.total})")
        spec = self.spec
        if len(self.layers) == 1:
            frame = self._render_layer(0, i, expressions)
        else:
            frame = np.empty((spec.height, spec.width, 3), np.uint8)
            for j, layer in enumerate(self.layers):
                c = layer.cell
                frame[c.y0 : c.y1, c.x0 : c.x1] = self._render_layer(j, i, expressions)
        if noise:
            frame = self.noise.apply(frame, i)
            if spec.distractors.jpeg_quality is not None:
                frame = jpeg(frame, spec.distractors.jpeg_quality)
        return frame

    def _render_layer(self, j: int, i: int, expressions: bool) -> np.ndarray:
        disp = self.control_displacement(i, j, expressions=expressions)
        return self.layers[j].render(i, disp, self.state(i, j))

    def expression_field(self, i: int, face: int = 0) -> tuple[np.ndarray, float]:
        """The dense backward displacement (scene px, (h, w, 2)) of the expressions alone
        at frame ``i`` over the face region, and scene px per canonical px; for checks."""
        layer = self.layers[face]
        disp = self.control_displacement(i, face, distractors=False)
        st = self.state(i, face)
        to_scene = layer.canon_to_scene(i, st)
        roi = grid_roi(layer.grid, to_scene, self.spec.width, self.spec.height)
        scale = math.hypot(to_scene[0, 0], to_scene[1, 0])
        if disp is None:
            return np.zeros((roi.y1 - roi.y0, roi.x1 - roi.x0, 2), np.float32), scale
        return layer.image_field(layer.base_index(i), disp, to_scene, roi), scale

    def frames(self, start: int = 0) -> Iterator[tuple[np.ndarray, int]]:
        """(image, pts_ns) from frame ``start`` to the end (forever if endless)."""
        i = start
        while self.total is None or i < self.total:
            yield self.render(i), self.pts_ns(i)
            i += 1

    def pts_ns(self, i: int) -> int:
        return round(i * 1e9 / self.spec.fps)


def write_video(spec: SceneSpec, out_path: Path) -> GroundTruth:
    """Render a finite scene to ``out_path`` (mp4v via cv2.VideoWriter) and write
    ``<out>.json`` and ``<out>.csv`` next to it; returns the ground truth."""
    if spec.total_frames is None:
        raise ValueError("write_video needs a finite scene (seconds or frames)")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    scene = SyntheticScene(spec)
    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps,
                             (spec.width, spec.height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a video writer for {out_path}")
    try:
        for image, _ in scene.frames():
            writer.write(image)
    finally:
        writer.release()
    scene.truth.write(out_path)
    return scene.truth


__all__ = ["DistractorEvent", "DistractorSpec", "SceneSpec", "SyntheticScene", "write_video"]
