"""A picture of what the align stage sees: the frame with each track's box, id and
landmarks, and beside it the aligned face with its eye and mouth regions and the two
32x32 crops the recognisers read.

    mestream align preview VIDEO -o preview.mp4   # every frame
    mestream align preview VIDEO -o preview.png   # a contact sheet of a few frames
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from pipeline.faces.alignment import FaceAligner
from pipeline.faces.backend import open_backend
from pipeline.faces.canonical import EYES_BOX, MOUTH_BOX
from pipeline.faces.tracker import FaceTracker
from pipeline.faces.types import AlignedFace

COLOURS = [(0, 200, 255), (255, 120, 0), (80, 220, 80), (200, 80, 255), (255, 255, 0)]


def read_video(path: str | Path) -> Iterator[tuple[np.ndarray, int]]:
    """(frame, pts_ns) pairs of a video file or a single image."""
    image = (
        cv2.imread(str(path))
        if Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp")
        else None
    )
    if image is not None:
        yield image, 0
        return
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    index = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame, round(index * 1e9 / fps)
            index += 1
    finally:
        cap.release()


def draw_panel(face: AlignedFace, size: int) -> np.ndarray:
    """The aligned face with its regions outlined, and the two crops underneath."""
    panel = face.face.copy()
    for box, colour in ((EYES_BOX, (0, 200, 255)), (MOUTH_BOX, (80, 220, 80))):
        x0, y0, x1, y1 = (np.asarray(box) * size).round().astype(int)
        cv2.rectangle(panel, (x0, y0), (x1 - 1, y1 - 1), colour, 1)
    half = size // 2
    crops = [
        cv2.resize(
            cv2.cvtColor(c, cv2.COLOR_GRAY2BGR), (half, half), interpolation=cv2.INTER_NEAREST
        )
        for c in (face.eyes, face.mouth)
    ]
    row = np.hstack(crops)
    if row.shape[1] < size:
        row = np.pad(row, ((0, 0), (0, size - row.shape[1]), (0, 0)))
    return np.vstack([panel, row])


def render(
    frame: np.ndarray, tracks: list, faces: list[AlignedFace], size: int, slots: int = 1
) -> np.ndarray:
    """The frame with its tracks drawn, and ``slots`` face panels to its right (a fixed
    width, so every picture of a video has the same size)."""
    canvas = frame.copy()
    for track in tracks:
        colour = COLOURS[track.id % len(COLOURS)]
        x0, y0, x1, y1 = np.asarray(track.box).round().astype(int)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 1)
        cv2.putText(
            canvas,
            f"track {track.id}",
            (x0, max(12, y0 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            colour,
            1,
            cv2.LINE_AA,
        )
        for x, y in np.asarray(track.landmarks.points):
            cv2.circle(canvas, (round(float(x)), round(float(y))), 1, colour, -1)
    panels = [draw_panel(f, size) for f in faces]
    height = max(canvas.shape[0], size * 3 // 2)
    column = np.zeros((height, size * slots, 3), np.uint8)
    for i, panel in enumerate(panels[:slots]):
        column[: panel.shape[0], i * size : (i + 1) * size] = panel
    canvas = np.pad(canvas, ((0, height - canvas.shape[0]), (0, 0), (0, 0)))
    return np.hstack([canvas, column])


def write_preview(
    video: str | Path,
    out: str | Path,
    backend: str = "mediapipe",
    max_faces: int = 1,
    size: int = 128,
    frames: int | None = None,
    sheet_rows: int = 4,
) -> int:
    """Render ``video`` through the tracker and aligner into ``out`` (.mp4 or .png).
    Returns the number of frames processed."""
    out = Path(out)
    tracker = FaceTracker(open_backend(backend), max_faces=max_faces)
    aligner = FaceAligner(size=size)
    rendered: list[np.ndarray] = []
    writer = None
    count = 0
    try:
        for frame, pts in read_video(video):
            if frames is not None and count >= frames:
                break
            tracks = tracker.update(frame, pts)
            for ended in tracker.pop_ended():
                aligner.forget(ended)
            faces = [aligner.align(t.id, frame, t.landmarks, pts, t.det_score) for t in tracks]
            picture = render(frame, tracks, faces, size, slots=max_faces)
            if out.suffix.lower() == ".mp4":
                if writer is None:
                    h, w = picture.shape[:2]
                    writer = cv2.VideoWriter(
                        str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h)
                    )
                writer.write(picture)
            else:
                rendered.append(picture)
            count += 1
    finally:
        tracker.close()
        if writer is not None:
            writer.release()
    if out.suffix.lower() != ".mp4":
        if not rendered:
            raise ValueError(f"{video}: no frames")
        picks = np.linspace(0, len(rendered) - 1, min(sheet_rows, len(rendered))).round()
        sheet = np.vstack([rendered[int(i)] for i in picks])
        if not cv2.imwrite(str(out), sheet):
            raise OSError(f"cannot write {out}")
    return count
