"""Face alignment (``pipeline.faces.measure``): jitter of the aligned landmarks on a still
face with sensor noise and on talking faces (GRID), and frames/s of one align worker at
360x288 and 640x480, with landmark tracking between detections and without.

One align worker runs in process (MediaPipe 0.10.21 BlazeFace + 478-point mesh,
one-euro smoothing of the rigid transform; no sockets).
"""

from __future__ import annotations

from pathlib import Path


def alignment_rows(quick: bool, grid_dir: Path | None) -> list[tuple[str, str, str, str]]:
    """The jitter and align-worker rows (fewer seconds, clips and passes with ``quick``)."""
    from pipeline.faces import measure
    from pipeline.faces.images import video_frames

    rows = []
    seconds = 4.0 if quick else 10.0
    j = measure.still_jitter(seconds=seconds)
    rows.append((f"align jitter, still face + noise sigma 3, {seconds:.0f} s at 25 fps, 128 px",
                 f"{j['one_euro_stable']:.3f} px stable points, {j['one_euro_mesh']:.3f} px "
                 f"all 468 (no smoothing: {j['none_stable']:.3f} / {j['none_mesh']:.3f})",
                 "temporal std, mean over points", "< 0.2 px"))
    rows.append(("align transform jitter, same still face: fixed image points in the "
                 "aligned face", f"{j['one_euro_transform']:.3f} px (no smoothing: "
                 f"{j['none_transform']:.3f} px, "
                 f"x{j['none_transform'] / j['one_euro_transform']:.1f})",
                 "temporal std, mean over points", "well under 1 px (ME motion: 1-3 px)"))
    clips = sorted(grid_dir.glob("*.mpg")) if grid_dir else []
    clips = clips or [measure.MEDIA / "grid_bbaf2n.mpg"]
    if quick:
        clips = clips[:1]
    t = measure.talking_eye_corner_jitter(clips)
    rows.append((f"align jitter, eye corners of {len(clips)} talking GRID face(s), 128 px",
                 f"{t['one_euro']:.3f} px (no smoothing: {t['none']:.3f} px)",
                 "median over clips", "(head moves too: an upper bound)"))
    clip = measure.MEDIA / "grid_bbaf2n.mpg"
    for size in ((360, 288), (640, 480)):
        frames = video_frames(clip, None if size == (360, 288) else size)
        for every in (5, 1):
            fps = measure.worker_fps(frames, every, repeats=1 if quick else 3)
            how = ("detector every 5th frame, landmarks track between" if every == 5
                   else "detector on every frame")
            rows.append((f"align worker, {size[0]}x{size[1]}, {how}", f"{fps:.0f} frames/s",
                         "median of passes over 75 frames", ">= 25 frames/s per stream"))
    return rows
