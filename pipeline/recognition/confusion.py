"""A confusion matrix a person reads: rows = planted (true) class, columns = published
label; each cell holds its count and its share of the row (the row's recall on the
diagonal), coloured by that share, so classes with few events are not drowned by the
frequent ones.

Example:
    >>> rows = confusion_rows({"negative": {"negative": 3, "positive": 1}})
    >>> rows[0]
    ('negative', [('negative', 3, 0.75), ('positive', 1, 0.25)])
"""

from __future__ import annotations

from pathlib import Path


def _labels(confusion: dict[str, dict[str, int]]) -> list[str]:
    return sorted({p for row in confusion.values() for p in row} | set(confusion))


def confusion_rows(confusion: dict[str, dict[str, int]]
                   ) -> list[tuple[str, list[tuple[str, int, float]]]]:
    """Per planted class: (published label, count, share of the row) for every label."""
    labels = _labels(confusion)
    out = []
    for truth in sorted(confusion):
        row = confusion[truth]
        n = sum(row.values()) or 1
        out.append((truth, [(p, row.get(p, 0), row.get(p, 0) / n) for p in labels]))
    return out


def confusion_png(confusion: dict[str, dict[str, int]], path: str | Path,
                  title: str = "") -> Path:
    """Write the matrix as a PNG (matplotlib Agg, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = confusion_rows(confusion)
    labels = _labels(confusion)
    share = np.array([[s for _, _, s in cells] for _, cells in rows]) if rows else \
        np.zeros((0, len(labels)))
    fig, ax = plt.subplots(figsize=(1.4 * len(labels) + 2.2, 0.9 * len(rows) + 1.6),
                           dpi=100)
    try:
        ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
        for i, (_, cells) in enumerate(rows):
            for j, (_, count, s) in enumerate(cells):
                ax.text(j, i, f"{count}\n{100 * s:.0f} %", ha="center", va="center",
                        fontsize=9, color="white" if s > 0.6 else "black")
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_yticks(range(len(rows)), [t for t, _ in rows], fontsize=8)
        ax.set_xlabel("published label")
        ax.set_ylabel("planted class")
        ax.set_title(title or "counts and share of each planted class", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
