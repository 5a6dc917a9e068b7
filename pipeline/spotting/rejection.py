"""Rules that tell a micro-expression from what looks like one: a blink, a head movement,
a longer (macro) movement or speech.

- **Blink**: the lids close. With landmarks, the eye aspect ratio (lid opening over eye
  width, both eyes) drops; a candidate whose EAR falls below ``blink_ratio`` x the track's
  running median EAR during its interval is a blink, whatever else moved (the eye cells are
  masked anyway, this catches the lid skin beyond the mask).
- **Head motion**: the rigid (similarity) part of the flow is large next to the local part:
  the aligner's residual lag and re-fit errors during a head movement leave a rigid flow
  of 0.5-2 px that a robust fit removes only approximately, so a candidate whose rigid flow
  exceeds ``head_ratio`` x its local flow is rejected.
- **Macro / speech**: a micro-expression starts from and returns to neutral within
  ``max_ms``. The displacement over a long span (3 lags) before and after the apex must be
  explained by the short span (1 lag): ``long_excess`` (see
  :func:`long_excess`) above ``macro_ratio`` means the face kept moving (a macro
  expression, or the jaw going on talking) and the candidate is reported as macro.

>>> import numpy as np
>>> pts = np.zeros((478, 2), np.float32)
>>> pts[[33, 133, 362, 263], 0] = [0, 10, 20, 30]
>>> pts[[159, 158, 160, 386, 385, 387], 1] = -2.0
>>> pts[[145, 153, 144, 374, 380, 373], 1] = 2.0
>>> round(eye_aspect_ratio(pts), 2)
0.4
>>> float(long_excess(np.ones(2), np.ones(2), -np.ones(2), -np.ones(2)))
0.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (upper, lower) lid pairs and the corners of each eye (MediaPipe 478).
EYES = (((159, 145), (158, 153), (160, 144), (33, 133)),
        ((386, 374), (385, 380), (387, 373), (362, 263)))


@dataclass(frozen=True, slots=True)
class RejectionRules:
    blink_ratio: float = 0.6
    """Blink when the EAR drops below this share of the running median (a synthetic blink
    closes the lids 95 %: EAR falls to < 0.4 of open, tests/pipeline/synth/test_distractors.py)."""
    head_ratio: float = 1.5
    """Head motion when rigid flow > this x local flow at the apex."""
    macro_ratio: float = 0.6
    """Macro / speech when :func:`long_excess` exceeds this."""


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean over both eyes of lid opening / eye width (478 MediaPipe points)."""
    ratios = []
    for *pairs, (a, b) in EYES:
        opening = np.mean([np.linalg.norm(points[u] - points[lo]) for u, lo in pairs])
        ratios.append(opening / max(float(np.linalg.norm(points[a] - points[b])), 1e-6))
    return float(np.mean(ratios))


def long_excess(out_short: np.ndarray, out_long: np.ndarray, back_short: np.ndarray,
                back_long: np.ndarray) -> float:
    """How much of the long-span motion the short span around the apex does not explain.

    Arrays are the displacements of the top cells, (..., 2) px: ``out_short`` = D(apex) -
    D(apex - lag), ``out_long`` = D(apex) - D(apex - 3 lag), ``back_*`` likewise after
    the apex. 0 for a movement that rises and falls within one lag on each side; a macro
    expression that rose slowly (or is still held) gives > 1.
    """
    num = (np.linalg.norm(out_long - out_short, axis=-1).sum()
           + np.linalg.norm(back_long - back_short, axis=-1).sum())
    den = (np.linalg.norm(out_short, axis=-1).sum()
           + np.linalg.norm(back_short, axis=-1).sum())
    return float(num / max(den, 1e-9))
