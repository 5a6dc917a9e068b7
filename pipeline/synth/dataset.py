"""Whole synthetic datasets in the official layouts of the ME datasets.

Each base face (a real image or video) is one subject. Short-clip layouts (CASME II,
SMIC-HS, SAMM) get ``clips_per_subject`` clips per subject, each holding exactly one
scripted micro-expression with a short neutral margin before and after, classes dealt
in turn so the dataset is balanced. Long-video layouts (CAS(ME)^2, SAMM-LV) get one
long video per subject with micro and macro expressions and distractors planned by the
generator. The layout writers (``pipeline.synth.layouts``) then reproduce each dataset's
folders, file names and annotation sheets.

Example (CLI): ``mestream synth dataset --layout casme2 --out data/ --faces ../shared/data/real``
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.synth.base_faces import BaseFace, load_base_faces
from pipeline.synth.distractors import DistractorSpec
from pipeline.synth.labels import label_set
from pipeline.synth.layouts import (
    DatasetClip,
    write_casme2,
    write_casme_sq,
    write_samm,
    write_samm_lv,
    write_smic_hs,
)
from pipeline.synth.scene import SceneSpec, SyntheticScene
from pipeline.synth.truth import ExpressionEvent


@dataclass(frozen=True)
class Layout:
    """How one dataset is made: its writer, label set, frame rate, and clip kind."""

    writer: Callable[..., Path]
    label_set: str
    fps: float
    long_videos: bool
    max_subjects: int


LAYOUTS: dict[str, Layout] = {
    "casme2": Layout(write_casme2, "casme2", 200.0, False, 26),
    "smic": Layout(write_smic_hs, "megc3", 100.0, False, 16),
    "casme_sq": Layout(write_casme_sq, "casme_sq3", 30.0, True, 22),
    "samm": Layout(write_samm, "megc3", 200.0, False, 32),
    "samm_lv": Layout(write_samm_lv, "megc3", 200.0, True, 32),
}


class RenderedFrames(Sequence[np.ndarray]):
    """The frames of a finite scene, rendered on access (a long video need not fit in
    memory; rendering is deterministic, so a frame read twice is the same)."""

    def __init__(self, scene: SyntheticScene, start: int, stop: int):
        self.scene, self.start, self.stop = scene, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.scene.render(self.start + (i % len(self)))


def scripted_clip(face: BaseFace, subject: int, clip: int, label: str, layout: Layout,
                  seed: int, width: int, height: int, micro_ms: tuple[float, float],
                  micro_px: tuple[float, float], noise_sigma: float) -> DatasetClip:
    """One short clip with one micro-expression of class ``label``."""
    rng = np.random.default_rng([seed, subject, clip, 0x5C])
    fps = layout.fps
    duration = max(3, round(rng.uniform(*micro_ms) * fps / 1000.0))
    margin = max(3, round(duration * rng.uniform(0.3, 0.6)))
    onset = margin
    apex = onset + max(1, round((duration - 1) * rng.uniform(0.3, 0.6)))
    offset = onset + duration - 1
    choices = label_set(layout.label_set)[label]
    aus = choices[int(rng.integers(len(choices)))]
    stream = f"{face.subject}-{clip:02d}"
    event = ExpressionEvent(stream=stream, face=0, onset=onset, apex=apex, offset=offset,
                            fps=fps, kind="micro", label=label, label_set=layout.label_set,
                            aus=tuple(aus), intensity_px=round(float(rng.uniform(*micro_px)), 3))
    total = offset + 1 + margin
    spec = SceneSpec(seed=int(rng.integers(2**31)), fps=fps, width=width, height=height,
                     frames=total, faces=[face], label_set=layout.label_set, stream=stream,
                     script=[event], distractors=DistractorSpec(noise_sigma=noise_sigma))
    scene = SyntheticScene(spec)
    return DatasetClip(subject=subject, frames=RenderedFrames(scene, 0, total), events=[event])


def long_video(face: BaseFace, subject: int, layout: Layout, seed: int, width: int,
               height: int, seconds: float, events_per_minute: float,
               noise_sigma: float) -> DatasetClip:
    """One long video with micro and macro expressions and distractors."""
    spec = SceneSpec(seed=seed * 1000 + subject, fps=layout.fps, width=width, height=height,
                     seconds=seconds, faces=[face], label_set=layout.label_set,
                     events_per_minute=events_per_minute, micro_fraction=0.5,
                     stream=f"{face.subject}-long",
                     distractors=DistractorSpec(noise_sigma=noise_sigma))
    scene = SyntheticScene(spec)
    total = spec.total_frames or 0
    return DatasetClip(subject=subject, frames=RenderedFrames(scene, 0, total),
                       events=list(scene.truth.events))


def make_dataset(layout_name: str, out: Path, faces: Sequence[str | Path] | None = None, *,
                 clips_per_subject: int = 6, seed: int = 0, width: int = 320,
                 height: int = 240, fps: float | None = None, seconds: float = 10.0,
                 events_per_minute: float = 12.0, noise_sigma: float = 2.0,
                 micro_ms: tuple[float, float] = (170.0, 500.0),
                 micro_px: tuple[float, float] = (1.0, 3.0),
                 progress: Callable[[int, int], None] | None = None) -> Path:
    """Generate and write one dataset; returns its root folder.

    ``faces``: base face images / videos / folders (each is a subject); default the
    bundled astronaut and GRID clip. ``fps`` overrides the dataset's own rate (CASME II
    and SAMM are 200 fps, SMIC-HS 100, CAS(ME)^2 30).
    """
    if layout_name not in LAYOUTS:
        raise ValueError(f"unknown layout {layout_name!r}; expected one of {sorted(LAYOUTS)}")
    layout = LAYOUTS[layout_name]
    if fps is not None:
        layout = Layout(layout.writer, layout.label_set, float(fps), layout.long_videos,
                        layout.max_subjects)
    bases = load_base_faces(faces)
    if len(bases) > layout.max_subjects:
        bases = bases[: layout.max_subjects]
    classes = sorted(label_set(layout.label_set))
    clips: list[DatasetClip] = []
    for s, face in enumerate(bases, start=1):
        if layout.long_videos:
            clips.append(long_video(face, s, layout, seed, width, height, seconds,
                                    events_per_minute, noise_sigma))
        else:
            for c in range(clips_per_subject):
                label = classes[(c + s) % len(classes)]  # balanced, and varied per subject
                clips.append(scripted_clip(face, s, c, label, layout, seed, width, height,
                                           micro_ms, micro_px, noise_sigma))
    if progress is None:
        return layout.writer(Path(out), clips, layout.fps)
    # The frames are rendered as the writer reads them; a writer that cuts clips to their
    # events (SMIC) reads fewer than the total, so the end is reported when it returns.
    counter = _FrameCounter(sum(len(c.frames) for c in clips), progress)
    for clip in clips:
        clip.frames = _CountedFrames(clip.frames, counter)
    progress(0, counter.total)
    root = layout.writer(Path(out), clips, layout.fps)
    progress(counter.total, counter.total)
    return root


class _FrameCounter:
    """Frames rendered so far, reported at most every 1 %."""

    def __init__(self, total: int, report: Callable[[int, int], None]):
        self.total, self.done, self.report = total, 0, report
        self._step = max(1, total // 100)

    def tick(self) -> None:
        self.done += 1
        if self.done % self._step == 0 and self.done < self.total:
            self.report(self.done, self.total)


class _CountedFrames(Sequence[np.ndarray]):
    """A clip's frames that count each render (a frame read twice counts twice: the
    total is then an underestimate of the work, never of the progress shown)."""

    def __init__(self, frames: Sequence[np.ndarray], counter: _FrameCounter):
        self.frames, self.counter = frames, counter

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)  # iteration stops here (the lazy frames wrap around)
        frame = self.frames[i]
        self.counter.tick()
        return frame
