"""Find faces a whole-frame detector misses: the frame, then overlapping square tiles.

A face detector sees the frame resized to its small input (BlazeFace short range:
128 x 128, letterboxed), so a face that is large in a portrait is tiny in a wide frame.
Measured here on real faces (session 13; the astronaut and GRID speakers, as in
tests/pipeline/faces/test_tiled_detection.py): on the whole frame the short-range
detector finds no face in a portrait padded to 1024 x 512, one of two portraits side by
side, and none in a 1080p frame with a 60 px face; squares of the frame's short side
find the first two, 384 px tiles the third. Each tile is one more detector call, so tiles
are run only where they help: ``auto`` tiles a frame wider than 3:2 (or taller) with
squares of its short side (16:9: three squares, each detector call about as costly as
the whole-frame one); a number of pixels tiles any frame with squares of that side (for
small faces in large frames; many calls). Detections are merged by non-maximum
suppression, the most confident first.

Example:
    >>> tile_origins(1080, 1920, 1080)
    [(0, 0), (420, 0), (840, 0)]
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from pipeline.faces.backend import FaceDetector
from pipeline.faces.boxes import iou as box_iou
from pipeline.faces.types import Detection

TileSetting = Literal["auto", "off"] | int
WIDE = 1.5  # auto tiles frames whose long side is more than this times the short one
OVERLAP = 0.25  # of a tile's side, so a face on a tile border is whole in one of them
MERGE_IOU = 0.4


def tile_origins(height: int, width: int, side: int,
                 overlap: float = OVERLAP) -> list[tuple[int, int]]:
    """Top-left corners (x, y) of ``side`` squares covering the frame, evenly spread and
    overlapping by at least ``overlap`` of a side."""
    side = min(side, height, width)
    step = max(1.0, side * (1 - overlap))

    def starts(length: int) -> list[int]:  # evenly spread, at most ``step`` apart
        n = math.ceil((length - side) / step) + 1
        return [round(i * (length - side) / (n - 1)) if n > 1 else 0 for i in range(n)]

    return [(x, y) for y in starts(height) for x in starts(width)]


def tile_side(height: int, width: int, tiles: TileSetting) -> int | None:
    """The tile side for a frame, or None when the whole frame is enough."""
    if tiles == "off":
        return None
    short, long = min(height, width), max(height, width)
    if tiles == "auto":
        return short if long > WIDE * short else None
    return int(tiles) if int(tiles) < long else None


def merge(detections: list[Detection], iou: float = MERGE_IOU) -> list[Detection]:
    """Non-maximum suppression: the most confident of overlapping detections."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: d.score, reverse=True):
        if all(box_iou(d.box, k.box) < iou for k in kept):
            kept.append(d)
    return kept


class TiledDetector:
    """A detector run on the whole frame and, per :func:`tile_side`, on its tiles."""

    def __init__(self, detector: FaceDetector, tiles: TileSetting = "auto"):
        self.detector = detector
        self.tiles = tiles
        self.calls = 0  # detector calls so far (a tiled frame costs several)

    def detect(self, image: np.ndarray) -> list[Detection]:
        found = list(self.detector.detect(image))
        self.calls += 1
        h, w = image.shape[:2]
        side = tile_side(h, w, self.tiles)
        if side is None:
            return found
        for x, y in tile_origins(h, w, side):
            crop = np.ascontiguousarray(image[y:y + side, x:x + side])
            shift = np.array([x, y, x, y], np.float32)
            for d in self.detector.detect(crop):
                found.append(Detection(box=d.box + shift, score=d.score,
                                       keypoints=d.keypoints + shift[:2]))
            self.calls += 1
        return merge(found)

    def close(self) -> None:
        self.detector.close()
