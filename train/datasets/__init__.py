"""Readers of the micro-expression datasets' own on-disk layouts, without torch.

Each reader takes the dataset folder as released and returns :class:`Sample` objects:
frame paths sorted by frame number and onset/apex/offset as indices into them. Plain
Python + numpy + openpyxl (imported only when a sheet is read), so they work anywhere.

Example:
    >>> sorted(READERS)
    ['casme2', 'casme_sq', 'samm', 'samm_lv', 'smic_hs', 'smic_nir', 'smic_vis']
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from train.datasets.casme2 import read_casme2
from train.datasets.casme_sq import read_casme_sq, stimulus_emotion
from train.datasets.errors import DatasetError
from train.datasets.frames import natural_key, read_frame_folder
from train.datasets.long_video import LongVideo, long_videos
from train.datasets.megc import (
    MEGC_CLASSES,
    MEGC_LABEL_IDS,
    PAPER1_CASME_SQ_LABELS,
    PAPER1_SMIC_LABELS,
    composite,
    megc_label,
)
from train.datasets.samm import read_samm
from train.datasets.samm_lv import read_samm_lv
from train.datasets.sample import Sample
from train.datasets.smic import read_smic, read_smic_hs

READERS: dict[str, Callable[..., list[Sample]]] = {
    "casme2": read_casme2,
    "smic_hs": read_smic_hs,
    "smic_vis": partial(read_smic, modality="VIS"),
    "smic_nir": partial(read_smic, modality="NIR"),
    "casme_sq": read_casme_sq,
    "samm": read_samm,
    "samm_lv": read_samm_lv,
}


def read_dataset(name: str, root: Path, **kwargs: Any) -> list[Sample]:
    """Read dataset ``name`` (a key of :data:`READERS`) from ``root``; ``kwargs`` go to
    its reader (``fps``, ``missing``, ``sheet``...)."""
    if name not in READERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(READERS))}")
    return READERS[name](Path(root), **kwargs)


__all__ = ["MEGC_CLASSES", "MEGC_LABEL_IDS", "PAPER1_CASME_SQ_LABELS", "PAPER1_SMIC_LABELS",
           "READERS", "DatasetError", "LongVideo", "Sample", "composite", "long_videos",
           "megc_label", "natural_key", "read_casme2", "read_casme_sq", "read_dataset",
           "read_frame_folder", "read_samm", "read_samm_lv", "read_smic", "read_smic_hs",
           "stimulus_emotion"]
