"""MEGC2019 composite mapping and the paper-1 label maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.synth.layouts import write_casme2, write_samm, write_smic_hs
from tests.pipeline.synth_layouts.fakes import clip, event
from train.datasets import (
    MEGC_LABEL_IDS,
    PAPER1_SMIC_LABELS,
    Sample,
    composite,
    megc_label,
    read_casme2,
    read_samm,
    read_smic_hs,
)

FRAMES = tuple(Path(f"img{n}.jpg") for n in range(1, 13))


def _s(dataset: str, subject: str, label: str | None, clip: str = "c") -> Sample:
    return Sample(dataset=dataset, subject=subject, clip=clip, video=clip, frames=FRAMES,
                  onset=1, apex=None, offset=10, label=label, aus="", kind="micro", fps=100.0,
                  first_frame_number=1)


@pytest.mark.parametrize(("dataset", "label", "expected"), [
    ("casme2", "happiness", "positive"), ("casme2", "disgust", "negative"),
    ("casme2", "repression", "negative"), ("casme2", "surprise", "surprise"),
    ("casme2", "others", None), ("casme2", "fear", None), ("casme2", "sadness", None),
    ("samm", "Happiness", "positive"), ("samm", "Anger", "negative"),
    ("samm", "Contempt", "negative"), ("samm", "Disgust", "negative"),
    ("samm", "Fear", "negative"), ("samm", "Sadness", "negative"),
    ("samm", "Surprise", "surprise"), ("samm", "Other", None),
    ("smic_hs", "negative", "negative"), ("smic_hs", "positive", "positive"),
    ("smic_hs", "surprise", "surprise"),
    ("casme_sq", "positive", None), ("samm_lv", None, None), ("smic_vis", "positive", None),
])
def test_megc_label(dataset: str, label: str | None, expected: str | None) -> None:
    assert megc_label(_s(dataset, "x", label)) == expected


def test_composite_mixed() -> None:
    by_dataset = {
        "casme2": [_s("casme2", "sub01", "happiness"), _s("casme2", "sub01", "others"),
                   _s("casme2", "sub02", "repression"), _s("casme2", "sub03", "fear"),
                   _s("casme2", "sub04", "disgust", clip="EP12_01f")],   # MEB drops it
        "samm": [_s("samm", "006", "Contempt"), _s("samm", "007", "Other")],
        "smic_hs": [_s("smic_hs", "s1", "surprise"), _s("smic_hs", "s2", "positive")],
    }
    out = composite(by_dataset)
    assert [(s.dataset, s.subject, s.label) for s in out] == [
        ("casme2", "casme2_sub01", "positive"), ("casme2", "casme2_sub02", "negative"),
        ("samm", "samm_006", "negative"), ("smic_hs", "smic_hs_s1", "surprise"),
        ("smic_hs", "smic_hs_s2", "positive")]
    assert len(composite(by_dataset, drop_meb_excluded=False)) == 6
    assert MEGC_LABEL_IDS == {"negative": 0, "positive": 1, "surprise": 2}
    assert PAPER1_SMIC_LABELS == MEGC_LABEL_IDS


def test_composite_rejects() -> None:
    with pytest.raises(ValueError, match="not part of the MEGC2019 composite"):
        composite({"casme_sq": [_s("casme_sq", "s15", "positive")]})
    with pytest.raises(ValueError, match="listed under 'samm'"):
        composite({"samm": [_s("casme2", "sub01", "happiness")]})


def test_composite_from_readers(tmp_path: Path) -> None:
    """The readers' own output goes through: mapped, "others" left out, subjects
    prefixed with their dataset."""
    casme2 = write_casme2(tmp_path / "c", [
        clip(1, 12, [event(2, 4, 8, 200.0, label="positive")], seed=1),
        clip(2, 12, [event(2, 4, 8, 200.0, label="others", label_set="casme2")], seed=2)],
        200.0)
    samm = write_samm(tmp_path / "s", [
        clip(1, 12, [event(2, 4, 8, 200.0, label="negative")], seed=3)], 200.0)
    smic = write_smic_hs(tmp_path / "m", [
        clip(1, 14, [event(1, 4, 12, 100.0, label="surprise")], seed=4)], 100.0)
    out = composite({"casme2": read_casme2(casme2), "samm": read_samm(samm),
                     "smic_hs": read_smic_hs(smic)})
    assert [(s.subject, s.label) for s in out] == [
        ("casme2_sub01", "positive"), ("samm_006", "negative"), ("smic_hs_s1", "surprise")]
