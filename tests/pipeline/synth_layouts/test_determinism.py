"""Same input, same bytes: every writer, every file (xlsx timestamps pinned)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.synth.layouts import (
    write_casme2,
    write_casme_sq,
    write_samm,
    write_samm_lv,
    write_smic_hs,
)
from tests.pipeline.synth_layouts.fakes import clip, event

WRITERS: dict[str, Callable[..., Path]] = {
    "casme2": write_casme2, "smic": write_smic_hs, "casme_sq": write_casme_sq,
    "samm": write_samm, "samm_lv": write_samm_lv,
}


def _clips(fps: float) -> list:
    return [clip(1, 20, [event(3, 5, 9, fps)], seed=1),
            clip(2, 20, [event(4, 8, 12, fps, label="positive", aus=("AUR12",))], seed=2)]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_same_bytes(tmp_path: Path, layout: str) -> None:
    a = WRITERS[layout](tmp_path / "a", _clips(30.0), 30.0)
    b = WRITERS[layout](tmp_path / "b", _clips(30.0), 30.0)
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys() and len(fa) > 3
    assert [k for k in fa if fa[k] != fb[k]] == []
    with pytest.raises(FileExistsError):                  # never mixes with an old dataset
        WRITERS[layout](tmp_path / "a", _clips(30.0), 30.0)
