"""A folder of numbered frame images, in frame-number order.

Every ME dataset stores a clip as one image per frame whose file name ends with the
ABSOLUTE frame number (``img46.jpg``, ``image090823.jpg``, ``006_05562.jpg``,
``006_1_0001.jpg``); the annotations use those numbers. Names are not zero-padded in
CASME II, so a lexicographic sort puts ``img100`` before ``img46``: always sort by number.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

from train.datasets.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".bmp", ".png"})
_TRAILING_NUMBER = re.compile(r"(\d+)$")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value: ``img2`` < ``img10``.

    Example:
        >>> sorted(["img10.jpg", "img2.jpg", "img1.jpg"], key=natural_key)
        ['img1.jpg', 'img2.jpg', 'img10.jpg']
    """
    # (0, number) / (1, text) so numbers and text never compare with each other.
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower())
                 for part in _DIGITS.split(name) if part)


@dataclass(frozen=True)
class FrameFolder:
    """The frame images of one clip or long video, ascending by frame number."""

    folder: Path
    paths: tuple[Path, ...]
    numbers: tuple[int, ...]      # frame number of each path, strictly ascending

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def first(self) -> int:
        return self.numbers[0]

    @property
    def last(self) -> int:
        return self.numbers[-1]

    def index(self, number: int) -> int | None:
        """Index of the image numbered ``number``, or None if there is no such image."""
        i = bisect.bisect_left(self.numbers, number)
        return i if i < len(self.numbers) and self.numbers[i] == number else None

    def index_at_or_after(self, number: int) -> int | None:
        """Index of the first image numbered ``number`` or later (None past the end)."""
        i = bisect.bisect_left(self.numbers, number)
        return i if i < len(self.numbers) else None

    def index_at_or_before(self, number: int) -> int | None:
        """Index of the last image numbered ``number`` or earlier (None before the start)."""
        i = bisect.bisect_right(self.numbers, number) - 1
        return i if i >= 0 else None


def read_frame_folder(folder: Path) -> FrameFolder:
    """List the images of ``folder`` by frame number.

    Files that are not images (``Thumbs.db``, ``.DS_Store``) or carry no trailing number
    are ignored; two images with the same number (``img5.jpg`` and ``img5.bmp``) are an
    error, since which one the annotation means is unknowable.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for name in ("img9.jpg", "img10.jpg", "img100.jpg", "img11.jpg", "Thumbs.db"):
        ...         _ = (Path(tmp) / name).write_bytes(b"")
        ...     print([p.name for p in read_frame_folder(Path(tmp)).paths])
        ['img9.jpg', 'img10.jpg', 'img11.jpg', 'img100.jpg']
    """
    if not folder.is_dir():
        raise DatasetError(f"{folder}: frame folder is missing")
    numbered: dict[int, Path] = {}
    for path in folder.iterdir():
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        m = _TRAILING_NUMBER.search(path.stem)
        if m is None:
            continue
        number = int(m.group(1))
        if number in numbered:
            raise DatasetError(f"{folder}: {numbered[number].name} and {path.name} both are "
                               f"frame {number}")
        numbered[number] = path
    if not numbered:
        raise DatasetError(f"{folder}: no numbered frame images "
                           f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    numbers = tuple(sorted(numbered))
    return FrameFolder(folder, tuple(numbered[n] for n in numbers), numbers)
