"""SMIC (Li et al., FG 2013), clipped micro-expressions:
``<HS|VIS|NIR>/sN/micro/<positive|negative|surprise>/sN_po_NN/image0NNNNN.jpg``
(docs/field.md 3.2).

- the class folder is the label; subject folders are not zero-padded and have gaps
  (HS: s1-s6, s8, s9, s11-s15, s18-s20);
- a sample runs from onset to offset exactly and no apex is coded anywhere, so onset = 0,
  offset = last, apex None (loaders use :meth:`Sample.apex_or_middle`);
- images are ``.bmp`` in some copies, ``.jpg`` in others; numbers are absolute;
- the clipped set has no spreadsheet (the SMIC-E sheets describe the long clips).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from train.datasets.errors import DatasetError
from train.datasets.frames import natural_key, read_frame_folder
from train.datasets.sample import Sample

Modality = Literal["HS", "VIS", "NIR"]
FPS: dict[str, float] = {"HS": 100.0, "VIS": 25.0, "NIR": 25.0}
CLASSES = ("positive", "negative", "surprise")
_SUBJECT = re.compile(r"s\d+", re.IGNORECASE)
NO_APEX_NOTE = "SMIC codes no apex; the clip runs onset..offset"


def find_smic(root: Path, modality: Modality = "HS") -> Path:
    """The modality folder (``HS``) for ``root`` = the SMIC folder, its parent, or the
    modality folder itself."""
    root = Path(root)
    for candidate in (root / modality, root / "SMIC" / modality, root):
        if candidate.is_dir() and any(_SUBJECT.fullmatch(p.name) and p.is_dir()
                                      for p in candidate.iterdir()):
            return candidate
    raise DatasetError(f"{root}: no SMIC {modality} folder with subject folders s1, s2, ...")


def read_smic(root: Path, modality: Modality = "HS", *, fps: float | None = None
              ) -> list[Sample]:
    """Every clipped micro-expression of one SMIC modality, by subject, class, clip.

    Args:
        root: the SMIC folder holding ``HS``/``VIS``/``NIR`` (or its parent, or the
            modality folder itself).
        modality: ``"HS"`` (100 fps), ``"VIS"`` or ``"NIR"`` (25 fps).
        fps: override the modality's frame rate.

    Returns:
        Samples of dataset ``smic_hs`` / ``smic_vis`` / ``smic_nir``, label = class folder.
    """
    if modality not in FPS:
        raise ValueError(f"SMIC modality must be one of {sorted(FPS)}, got {modality!r}")
    base = find_smic(root, modality)
    dataset = f"smic_{modality.lower()}"
    samples: list[Sample] = []
    subjects = sorted((p for p in base.iterdir() if p.is_dir() and _SUBJECT.fullmatch(p.name)),
                      key=lambda p: natural_key(p.name))
    for subject in subjects:
        micro = subject / "micro"
        if not micro.is_dir():
            raise DatasetError(f"{subject}: no 'micro' folder")
        for class_dir in sorted((p for p in micro.iterdir() if p.is_dir()),
                                key=lambda p: natural_key(p.name)):
            if class_dir.name.lower() not in CLASSES:
                raise DatasetError(f"{class_dir}: unknown class folder (expected one of "
                                   f"{', '.join(CLASSES)})")
            for clip in sorted((p for p in class_dir.iterdir() if p.is_dir()),
                               key=lambda p: natural_key(p.name)):
                frames = read_frame_folder(clip)
                samples.append(Sample(
                    dataset=dataset, subject=subject.name, clip=clip.name, video=clip.name,
                    frames=frames.paths, onset=0, apex=None, offset=len(frames) - 1,
                    label=class_dir.name.lower(), aus="", kind="micro",
                    fps=FPS[modality] if fps is None else fps,
                    first_frame_number=frames.first, notes=NO_APEX_NOTE))
    if not samples:
        raise DatasetError(f"{base}: no SMIC samples (sN/micro/<class>/<clip>/)")
    return samples


def read_smic_hs(root: Path, *, fps: float | None = None) -> list[Sample]:
    """:func:`read_smic` for the high-speed (100 fps) camera, the one MEGC uses."""
    return read_smic(root, "HS", fps=fps)
