"""Hand-made inputs and independent readers for the layout tests.

The readers here follow what the public loaders do with the real datasets (glob the
official patterns, numeric sort, find the header row), deliberately without importing the
writers' constants, so a writer that drifts from the layout fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pipeline.synth.layouts import DatasetClip
from pipeline.synth.truth import ExpressionEvent

H, W = 48, 64


def frames(n: int, seed: int) -> list[np.ndarray]:
    """``n`` small BGR frames: a gradient (so JPEG has structure) plus seeded noise."""
    rng = np.random.default_rng(seed)
    base = np.add.outer(np.arange(H), np.arange(W)).astype(np.uint8)
    return [np.clip(np.dstack([base, base[::-1], base + i])
                    + rng.integers(0, 20, (H, W, 3)), 0, 255).astype(np.uint8)
            for i in range(n)]


def event(onset: int, apex: int, offset: int, fps: float, *, kind: str = "micro",
          label: str = "surprise", label_set: str = "megc3",
          aus: tuple[str, ...] = ("AU1", "AU2")) -> ExpressionEvent:
    return ExpressionEvent(stream="t", face=0, onset=onset, apex=apex, offset=offset, fps=fps,
                           kind=kind, label=label, label_set=label_set, aus=aus,
                           intensity_px=2.0)


def clip(subject: int, n: int, events: list[ExpressionEvent], seed: int,
         name: str | None = None) -> DatasetClip:
    return DatasetClip(subject=subject, frames=frames(n, seed), events=events, name=name)


def numbers(folder: Path, pattern: str) -> list[int]:
    """Frame numbers of the images in ``folder`` matching ``pattern`` (one group: the
    number), sorted numerically as the loaders must (never lexicographically)."""
    out = []
    for p in folder.iterdir():
        m = re.fullmatch(pattern, p.name)
        assert m, f"unexpected file {p.name} in {folder}"
        out.append(int(m.group(1)))
    return sorted(out)


def sheet_rows(path: Path, sheet: str | None = None) -> list[list[object]]:
    """All rows of a sheet as lists of cell values (``None`` for empty cells)."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def records(rows: list[list[object]], header_at: int) -> list[dict[str, object]]:
    """Rows below ``rows[header_at]`` as dicts keyed by the header (blank headers skipped),
    stopping at the first row without a value in column 0 or 1, as loaders do."""
    header = rows[header_at]
    out = []
    for row in rows[header_at + 1:]:
        if not row or row[0] is None:
            break
        out.append({h: v for h, v in zip(header, row, strict=False) if h is not None})
    return out
