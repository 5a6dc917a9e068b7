"""A contact sheet of a scene's expression events, to see what the ground truth says.

One row per event: face crops at neutral (the frame before onset), onset, apex and offset,
then two differences magnified x10 and colour-mapped: |apex - neutral| (what a spotter
sees: on a talking base face it includes the speech) and |apex - the same frame rendered
without the expression| (exactly what the generator added), and a caption (kind, label,
AUs, intensity, frames).

Example (needs the bundled media)::

    write_preview(SyntheticScene(SceneSpec(seed=1, seconds=30)), Path("preview.png"))
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.synth.scene import SyntheticScene

CROP = 160
GAIN = 10


def _crop(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    h, w = frame.shape[:2]
    patch = frame[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    return cv2.resize(patch, (CROP, CROP), interpolation=cv2.INTER_AREA)


def write_preview(scene: SyntheticScene, out_png: Path, max_events: int = 12) -> Path:
    """Write the contact sheet of the first ``max_events`` events to ``out_png``."""
    rows = []
    for ev in scene.truth.events[:max_events]:
        layer = scene.layers[ev.face]
        m = layer.canon_to_scene(ev.apex, scene.state(ev.apex, ev.face))
        corners = np.array([[-8.0, 16.0], [136.0, 160.0]]) @ m[:, :2].T + m[:, 2]
        box = tuple(int(v) for v in (*corners.min(axis=0), *corners.max(axis=0)))
        neutral_i = max(0, ev.onset - 1)
        frames = {i: scene.render(i) for i in (neutral_i, ev.onset, ev.apex, ev.offset)}
        crops = [_crop(frames[i], box) for i in (neutral_i, ev.onset, ev.apex, ev.offset)]
        plain = _crop(scene.render(ev.apex, expressions=False), box)
        heats = []
        for ref in (crops[0], plain):
            diff = np.abs(crops[2].astype(np.int16) - ref.astype(np.int16)).max(axis=2)
            heats.append(cv2.applyColorMap(np.clip(diff * GAIN, 0, 255).astype(np.uint8),
                                           cv2.COLORMAP_JET))
        strip = np.hstack([*crops, *heats])
        caption = np.zeros((22, strip.shape[1], 3), np.uint8)
        text = (f"{ev.kind} {ev.label} {'+'.join(ev.aus)} {ev.intensity_px:.1f}px  "
                f"frames {neutral_i}/{ev.onset}/{ev.apex}/{ev.offset}  "
                f"|apex-neutral|, |added| x{GAIN}")
        cv2.putText(caption, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                    cv2.LINE_AA)
        rows.append(np.vstack([caption, strip]))
    if not rows:
        sheet = np.zeros((40, 6 * CROP, 3), np.uint8)
        cv2.putText(sheet, "no expression events", (4, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 255), 1, cv2.LINE_AA)
    else:
        sheet = np.vstack(rows)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), sheet):
        raise OSError(f"cannot write {out_png}")
    return out_png
