"""The synthetic camera (``pipeline.synth``): frames/s of the generator's default scene
at 640x480 on one OpenCV thread, without writing or sending it."""

from __future__ import annotations

import statistics


def synth_rows(quick: bool) -> list[tuple[str, str, str, str]]:
    """Frames/s of three scenes: a still face, a talking face, and it re-encoded as JPEG."""
    from pipeline.synth.base_faces import DEFAULT_MEDIA
    from pipeline.synth.distractors import DistractorSpec
    from pipeline.synth.scene import SceneSpec
    from pipeline.synth.speed import measure_fps

    still, video = DEFAULT_MEDIA
    rows = []
    frames = 100 if quick else 300
    seeds = range(1 if quick else 3)
    for base, what, jpeg in ((still, "still face (astronaut)", None),
                             (video, "talking face (GRID clip)", None),
                             (video, "talking face, JPEG q85 re-encode", 85)):
        rates = [measure_fps(SceneSpec(seed=s, fps=30.0, width=640, height=480, faces=[base],
                                       distractors=DistractorSpec(jpeg_quality=jpeg)),
                             frames=frames) for s in seeds]
        fps = statistics.median(rates)
        rows.append((f"synthetic source, 640x480 at 30 fps, one core, {what}",
                     f"{fps:.0f} frames/s = {fps / 30:.1f} streams of 30 fps",
                     f"median of {len(rates)} seeds x {frames} frames", ">= 4 streams"))
    return rows
