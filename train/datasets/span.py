"""Annotated absolute frame numbers (onset, apex, offset) turned into frame indices.

The sheets give the numbers in the image file names. They usually hit an image exactly;
where they do not (a frame missing from the folder, an offset coded past the last image:
CASME II has one wrong offset, docs/field.md 3.1) the span is moved to the nearest image
inside it and a note says so, rather than losing the sample. A span that does not
overlap the images at all means the row points at the wrong folder: that is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from train.datasets.frames import FrameFolder
from train.datasets.sheet import SheetRow


@dataclass(frozen=True)
class Span:
    """Indices into a :class:`FrameFolder`, offset inclusive, plus what was adjusted."""

    onset: int
    apex: int | None
    offset: int
    notes: tuple[str, ...] = ()


def locate_span(frames: FrameFolder, onset: int, apex: int | None, offset: int,
                row: SheetRow) -> Span:
    """Turn the absolute ``onset``/``apex``/``offset`` of ``row`` into indices of ``frames``.

    An apex outside onset..offset or without an image becomes None (with a note): a wrong
    apex is worse than none, since loaders fall back to the middle frame.
    """
    name = frames.folder.name
    if offset < onset:
        raise row.error(f"offset {offset} is before onset {onset}")
    if offset < frames.first or onset > frames.last:
        raise row.error(f"frames {onset}..{offset} are outside the images of {name} "
                        f"({frames.first}..{frames.last})")
    notes: list[str] = []
    on = frames.index(onset)
    if on is None:
        on = frames.index_at_or_after(onset)
        notes.append(f"onset {onset} has no image; moved to {frames.numbers[on]}")
    off = frames.index(offset)
    if off is None:
        off = frames.index_at_or_before(offset)
        notes.append(f"offset {offset} has no image; moved to {frames.numbers[off]}")
    if on is None or off is None or off < on:
        raise row.error(f"frames {onset}..{offset} contain no image of {name}")
    ap: int | None = None
    if apex is not None:
        if not onset <= apex <= offset:
            notes.append(f"apex {apex} is outside onset..offset {onset}..{offset}; "
                         "treated as not coded")
        else:
            ap = frames.index(apex)
            if ap is None:
                notes.append(f"apex {apex} has no image; treated as not coded")
            elif not on <= ap <= off:
                ap = None
                notes.append(f"apex {apex} fell outside the moved span; treated as not coded")
    return Span(on, ap, off, tuple(notes))
