"""The time course of one expression: raised-cosine rise from onset to apex, fall to offset.

Every frame from ``onset`` to ``offset`` (inclusive) moves a little, the apex frame exactly
at full strength, and nothing outside: the event's frames in the ground truth are exactly
the frames that differ from the neutral face. (A raised cosine that were 0 at the onset
frame itself would make the coded onset frame identical to the neutral one.)

Example:
    >>> [round(envelope(i, onset=2, apex=4, offset=7), 3) for i in range(1, 9)]
    [0.0, 0.25, 0.75, 1.0, 0.854, 0.5, 0.146, 0.0]
"""

from __future__ import annotations

import math


def envelope(i: int, onset: int, apex: int, offset: int) -> float:
    """Strength 0..1 of an expression at frame ``i``; 1 exactly at ``apex``."""
    if i < onset or i > offset:
        return 0.0
    if i <= apex:
        u = (i - onset + 1) / (apex - onset + 1)
    else:
        u = (offset + 1 - i) / (offset + 1 - apex)
    return 0.5 * (1.0 - math.cos(math.pi * u))


def bump(i: int, start: int, end: int) -> float:
    """A raised-cosine bump over [start, end] (inclusive): 0 outside, 1 in the middle; for
    distractors that go and come back (head shift, illumination change)."""
    if i < start or i > end:
        return 0.0
    u = (i - start + 1) / (end - start + 2)
    return 0.5 * (1.0 - math.cos(2.0 * math.pi * u))


def plateau_envelope(i: int, onset: int, apex: int, offset: int) -> float:
    """The raised cosine with the apex held: full strength from the apex for a quarter of
    the fall, then the cosine fall over the rest (a training-domain variant).

    Example:
        >>> [round(plateau_envelope(i, 2, 4, 11), 3) for i in range(3, 13)]
        [0.75, 1.0, 1.0, 0.95, 0.812, 0.611, 0.389, 0.188, 0.05, 0.0]
    """
    if i < onset or i > offset:
        return 0.0
    hold = (offset - apex) // 4
    if apex <= i <= apex + hold:
        return 1.0
    if i > apex:
        return envelope(i - hold, onset, apex, offset - hold)
    return envelope(i, onset, apex, offset)


def power_envelope(i: int, onset: int, apex: int, offset: int, power: float = 2.0) -> float:
    """The raised cosine raised to ``power``: sharper peak, softer start and end (a
    training-domain variant; 1 = the raised cosine)."""
    return envelope(i, onset, apex, offset) ** power


ENVELOPES = {"raised_cosine": envelope, "plateau": plateau_envelope, "power": power_envelope}
"""The training generator's time courses, by name (the held-out model has its own:
:func:`pipeline.synth.muscles.muscle_envelope`)."""
