"""Mapping of the generator's labels onto one dataset's own emotion vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.synth.truth import ExpressionEvent


@dataclass(frozen=True)
class EmotionTable:
    """``(label_set, label) -> the dataset's emotion word``; anything missing is a label
    the dataset cannot express, and writing it would be a silent lie, so it raises."""

    dataset: str
    mapping: Mapping[tuple[str, str], str]

    def name(self, ev: ExpressionEvent) -> str:
        try:
            return self.mapping[(ev.label_set, ev.label)]
        except KeyError:
            known = ", ".join(f"{s}:{lab}" for s, lab in sorted(self.mapping))
            raise ValueError(
                f"{self.dataset} cannot express label {ev.label!r} of label set "
                f"{ev.label_set!r} (event at frames {ev.onset}..{ev.offset} of stream "
                f"{ev.stream!r}); it can express {known}") from None
