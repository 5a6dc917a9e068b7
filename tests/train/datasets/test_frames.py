"""Frame folders: numeric order, tolerated extensions and clutter, duplicates refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from train.datasets import DatasetError, natural_key, read_frame_folder


@pytest.mark.parametrize(("names", "expected"), [
    ([], []),
    (["img10.jpg", "img2.jpg", "img1.jpg"], ["img1.jpg", "img2.jpg", "img10.jpg"]),
    (["img100", "img99", "img9"], ["img9", "img99", "img100"]),
    (["s11", "s2", "S1"], ["S1", "s2", "s11"]),
    (["EP10_01", "EP9f", "EP09_02"], ["EP09_02", "EP9f", "EP10_01"]),
])
def test_natural_key(names: list[str], expected: list[str]) -> None:
    assert sorted(names, key=natural_key) == expected


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_frame_folder_is_numeric(tmp_path: Path) -> None:
    _touch(tmp_path, *(f"img{n}.jpg" for n in range(7, 19)), "Thumbs.db", ".DS_Store",
           "notes.txt", "cover.jpg")
    frames = read_frame_folder(tmp_path)
    assert frames.numbers == tuple(range(7, 19))
    assert [p.name for p in frames.paths][:4] == ["img7.jpg", "img8.jpg", "img9.jpg",
                                                  "img10.jpg"]
    assert sorted(p.name for p in frames.paths) != [p.name for p in frames.paths]
    assert (frames.first, frames.last, len(frames)) == (7, 18, 12)
    assert frames.index(10) == 3 and frames.index(19) is None


@pytest.mark.parametrize("names", [
    [f"image{n:06d}.bmp" for n in range(90, 103)],
    [f"006_{n:05d}.JPG" for n in range(5560, 5573)],
    [f"006_1_{n:04d}.png" for n in range(1, 13)],
])
def test_frame_folder_extensions(tmp_path: Path, names: list[str]) -> None:
    _touch(tmp_path, *reversed(names))
    assert [p.name for p in read_frame_folder(tmp_path).paths] == names


def test_frame_folder_gaps(tmp_path: Path) -> None:
    _touch(tmp_path, "img1.jpg", "img2.jpg", "img5.jpg")
    frames = read_frame_folder(tmp_path)
    assert frames.index(3) is None
    assert (frames.index_at_or_after(3), frames.index_at_or_before(3)) == (2, 1)
    assert frames.index_at_or_after(6) is None and frames.index_at_or_before(0) is None


def test_frame_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing"):
        read_frame_folder(tmp_path / "nope")
    _touch(tmp_path / "empty", "Thumbs.db")
    with pytest.raises(DatasetError, match="no numbered frame images"):
        read_frame_folder(tmp_path / "empty")
    _touch(tmp_path / "dup", "img5.jpg", "img5.bmp")
    with pytest.raises(DatasetError, match="both are frame 5"):
        read_frame_folder(tmp_path / "dup")
