"""One annotated expression of a micro-expression dataset, as every reader returns it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from train.datasets.frames import FrameFolder
    from train.datasets.span import Span

KINDS = ("micro", "macro")


@dataclass(frozen=True)
class Sample:
    """One expression: its frames on disk and where in them it happens.

    ``onset``/``apex``/``offset`` are 0-based indices INTO ``frames`` (offset inclusive),
    never the dataset's absolute frame numbers; ``frames[0]`` is image number
    ``first_frame_number``. For the long-video datasets (CAS(ME)^2, SAMM-LV) ``frames`` is
    the whole video, shared by all its expressions, because spotting needs the context.

    Example:
        >>> s = Sample(dataset="smic_hs", subject="s1", clip="s1_po_01", video="s1_po_01",
        ...            frames=tuple(Path(f"image{n:06d}.jpg") for n in range(100, 112)),
        ...            onset=0, apex=None, offset=11, label="positive", aus="",
        ...            kind="micro", fps=100.0, first_frame_number=100)
        >>> s.apex_or_middle(), len(s.expression_frames), s.frames[s.offset].name
        (5, 12, 'image000111.jpg')
    """

    dataset: str                # "casme2", "smic_hs", "casme_sq", "samm", "samm_lv", ...
    subject: str                # as the dataset writes it: "sub01", "s3", "s15", "006"
    clip: str                   # the sample folder / annotation name ("EP02_01f", "anger1_1")
    video: str                  # folder holding ``frames`` ("EP02_01f", "15_0401girlcrashing")
    frames: tuple[Path, ...]    # image files, sorted by their frame NUMBER (img9 < img10)
    onset: int                  # index into frames
    apex: int | None            # index into frames; None where the dataset gives none
    offset: int                 # index into frames, inclusive
    label: str | None           # the dataset's own emotion word; None where it codes none
    aus: str                    # action units as written ("4+7", "R12", "L1 or 2")
    kind: str                   # "micro" or "macro"
    fps: float
    first_frame_number: int     # absolute number of frames[0] in its file name
    notes: str = ""             # what the reader fixed or estimated ("apex not coded ...")

    def __post_init__(self) -> None:
        where = f"{self.dataset} {self.subject}/{self.clip}"
        if not self.frames:
            raise ValueError(f"{where}: no frames")
        if not 0 <= self.onset <= self.offset < len(self.frames):
            raise ValueError(f"{where}: onset {self.onset} / offset {self.offset} are not "
                             f"ordered indices into its {len(self.frames)} frames")
        if self.apex is not None and not self.onset <= self.apex <= self.offset:
            raise ValueError(f"{where}: apex {self.apex} is outside onset..offset "
                             f"{self.onset}..{self.offset}")
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.fps <= 0:
            raise ValueError(f"{where}: fps must be positive, got {self.fps}")

    def apex_or_middle(self) -> int:
        """The apex index, or the middle of onset..offset where the dataset has no apex
        (SMIC, some CASME II / SAMM-LV rows), as MEB and most apex-flow methods do."""
        return self.apex if self.apex is not None else (self.onset + self.offset) // 2

    @property
    def expression_frames(self) -> tuple[Path, ...]:
        """``frames[onset : offset + 1]``: the expression alone."""
        return self.frames[self.onset:self.offset + 1]

    @property
    def duration_s(self) -> float:
        """Length of onset..offset in seconds (inclusive frames)."""
        return (self.offset - self.onset + 1) / self.fps

    @classmethod
    def located(cls, dataset: str, subject: str, clip: str, video: str,
                frames: FrameFolder, span: Span, *, label: str | None, aus: str, kind: str,
                fps: float, notes: Iterable[str], apex: int | None = None) -> Sample:
        """A sheet row's sample once its span is located in ``frames``
        (:func:`~train.datasets.span.locate_span`); ``apex`` overrides the span's (a
        reader that estimates a missing one); ``notes`` are joined with "; "."""
        return cls(dataset=dataset, subject=subject, clip=clip, video=video,
                   frames=frames.paths, onset=span.onset,
                   apex=span.apex if apex is None else apex, offset=span.offset,
                   label=label, aus=aus, kind=kind, fps=fps,
                   first_frame_number=frames.first, notes="; ".join(notes))
