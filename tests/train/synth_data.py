"""A tiny synthetic CASME II-layout dataset for the training tests (bundled faces: 2
subjects x 2 clips, 160x120 at 50 fps, so alignment takes seconds), made once per
session."""

from __future__ import annotations

from pathlib import Path

import pytest

CLASSES = ["happiness", "surprise", "disgust", "repression", "others"]


def tiny_casme2(factory: pytest.TempPathFactory) -> Path:
    """Root of the dataset (``.../CASME2``), generated on first use in this session."""
    from pipeline.synth.dataset import make_dataset

    base = factory.getbasetemp() / "tiny_casme2"
    root = base / "CASME2"
    if not root.exists():
        root = make_dataset("casme2", base, clips_per_subject=2, width=160, height=120,
                            fps=50)
    return root
