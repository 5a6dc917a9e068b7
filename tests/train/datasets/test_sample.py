"""Sample invariants, and that the readers stay free of torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from train.datasets import Sample

FRAMES = tuple(Path(f"img{n}.jpg") for n in range(46, 58))


def _sample(**kw: object) -> Sample:
    fields: dict = dict(dataset="casme2", subject="sub01", clip="EP02_01f", video="EP02_01f",
                        frames=FRAMES, onset=2, apex=5, offset=9, label="happiness",
                        aus="R12", kind="micro", fps=200.0, first_frame_number=46)
    return Sample(**{**fields, **kw})


def test_sample_helpers() -> None:
    s = _sample()
    assert s.apex_or_middle() == 5
    assert _sample(apex=None).apex_or_middle() == 5               # (2 + 9) // 2
    assert s.expression_frames == FRAMES[2:10]
    assert s.duration_s == pytest.approx(8 / 200)


@pytest.mark.parametrize(("kw", "match"), [
    ({"frames": ()}, "no frames"),
    ({"onset": 10, "offset": 9}, "ordered"),
    ({"offset": 12}, "ordered"),
    ({"onset": -1}, "ordered"),
    ({"apex": 1}, "apex 1 is outside"),
    ({"kind": "nano"}, "kind"),
    ({"fps": 0.0}, "fps"),
])
def test_sample_rejects(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _sample(**kw)


def test_readers_do_not_import_torch() -> None:
    code = ("import sys, train.datasets, train.datasets.megc; "
            "assert 'torch' not in sys.modules; assert 'openpyxl' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[3])
