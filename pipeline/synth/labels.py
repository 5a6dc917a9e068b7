"""Label sets and the action-unit combinations that express each class.

Each class has alternatives (one is drawn per event), EMFACS-style prototypes reduced to the
AUs the generator makes (:data:`pipeline.synth.actions.ACTION_UNITS`):

- happiness / positive / happy: AU12, often with AU6 (Duchenne smile);
- surprise: AU1+2, with AU26 when the jaw drops (AU5 would need upper-lid opening that
  the eye region cannot show at 1-3 px);
- anger / angry: AU4, AU4+7 (brows down and together, lids tightened);
- disgust: AU9, AU10, AU4+9; CASME II codes disgust mostly as AU4 / AU4+7 / AU9 (its
  criteria table), so casme2 keeps those too;
- negative (MEGC composite = disgust, repression, anger, contempt, fear, sadness): AU4,
  AU4+7, AU9, AU15, AU4+15 (sadness);
- repression (CASME II): AU14, AU15, AU17 alone or combined;
- others (CASME II): single movements that are no emotional prototype: AU20, AU7, AU1.

Example:
    >>> sorted(LABEL_SETS["megc3"])
    ['negative', 'positive', 'surprise']
    >>> LABEL_SETS["casme2"]["repression"][0]
    ('AU14',)
"""

from __future__ import annotations

LabelSet = dict[str, list[tuple[str, ...]]]

LABEL_SETS: dict[str, LabelSet] = {
    "megc3": {
        "negative": [("AU4",), ("AU4", "AU7"), ("AU9",), ("AU15",), ("AU4", "AU15")],
        "positive": [("AU12",), ("AU6", "AU12")],
        "surprise": [("AU1", "AU2"), ("AU1", "AU2", "AU26")],
    },
    "casme_sq3": {
        "happy": [("AU12",), ("AU6", "AU12")],
        "angry": [("AU4",), ("AU4", "AU7")],
        "disgust": [("AU9",), ("AU10",), ("AU4", "AU9"), ("AU9", "AU10")],
    },
    "casme2": {
        "happiness": [("AU12",), ("AU6", "AU12")],
        "surprise": [("AU1", "AU2"), ("AU1", "AU2", "AU26")],
        "disgust": [("AU9",), ("AU10",), ("AU4", "AU9"), ("AU4", "AU7")],
        "repression": [("AU14",), ("AU15",), ("AU17",), ("AU15", "AU17"), ("AU14", "AU17")],
        "others": [("AU20",), ("AU7",), ("AU1",)],
    },
}
"""label set -> class -> AU combinations (alternatives)."""


def label_set(name: str) -> LabelSet:
    """The label set called ``name``; ValueError listing the known ones otherwise."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        known = sorted(LABEL_SETS)
        raise ValueError(f"unknown label set {name!r}; expected one of {known}") from None
