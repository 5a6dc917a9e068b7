"""Label vocabularies of the protocols: the MEGC2019 composite 3-class mapping (docs/field.md
1.1) and the explicit class-index maps of paper 1 (docs/papers.md section 4 item 9).

MEGC2019 composite (CDE): SMIC-HS + CASME II + SAMM, 442 clips of 68 subjects, LOSO over
all 68. positive = happiness; negative = disgust, repression (CASME II), anger, contempt,
disgust, fear, sadness (SAMM), negative (SMIC); surprise = surprise. "Others" and CASME II
fear/sadness are excluded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from train.datasets.sample import Sample

MEGC_CLASSES = ("negative", "positive", "surprise")
# Label ids of the composite CSV (HTNet's combined_3_class2_for_optical_flow.csv).
MEGC_LABEL_IDS = {"negative": 0, "positive": 1, "surprise": 2}

# Dataset -> its own emotion word (lower case) -> composite class; absent words are excluded.
MEGC_MAPS: dict[str, dict[str, str]] = {
    "casme2": {"happiness": "positive", "disgust": "negative", "repression": "negative",
               "surprise": "surprise"},
    "samm": {"happiness": "positive", "anger": "negative", "contempt": "negative",
             "disgust": "negative", "fear": "negative", "sadness": "negative",
             "surprise": "surprise"},
    "smic_hs": {"positive": "positive", "negative": "negative", "surprise": "surprise"},
}

# MEB leaves these three CASME II clips out of MEGC (docs/field.md 1.1); with them out the
# composite has CASME II 88/32/25 (neg/pos/sur) as in the official CSV.
MEGC_CASME2_EXCLUDED = frozenset({("sub04", "EP12_01f"), ("sub05", "EP12_03f"),
                                  ("sub24", "EP02_07")})

# Paper 1 (MicroExpSTCNN, arXiv 1904.01390): class order of the authors' code.
PAPER1_CASME_SQ_LABELS = {"angry": 0, "happy": 1, "disgust": 2}
PAPER1_SMIC_LABELS = {"negative": 0, "positive": 1, "surprise": 2}


def megc_label(sample: Sample) -> str | None:
    """The composite class of ``sample``, or None if MEGC2019 excludes it (``others``,
    CASME II fear/sadness, datasets outside the composite).

    Example:
        >>> from types import SimpleNamespace as S
        >>> megc_label(S(dataset="samm", label="Contempt")), megc_label(
        ...     S(dataset="casme2", label="fear")), megc_label(S(dataset="smic_hs",
        ...     label="surprise"))
        ('negative', None, 'surprise')
    """
    table = MEGC_MAPS.get(sample.dataset)
    if table is None or sample.label is None:
        return None
    return table.get(sample.label.strip().lower())


def composite(samples_by_dataset: Mapping[str, Sequence[Sample]], *,
              drop_meb_excluded: bool = True) -> list[Sample]:
    """The MEGC2019 composite: mapped samples of CASME II, SAMM and SMIC-HS.

    Labels become ``negative``/``positive``/``surprise``; subjects are prefixed with the
    dataset (``casme2_sub01``, ``smic_hs_s1``, ``samm_006``) so that LOSO over the
    composite has one fold per person (68 on the real data); ``dataset`` stays, so the
    per-dataset UF1/UAR can still be taken. Excluded samples are left out.

    Args:
        samples_by_dataset: ``{"casme2": [...], "samm": [...], "smic_hs": [...]}``.
        drop_meb_excluded: leave out :data:`MEGC_CASME2_EXCLUDED` as MEB does.
    """
    out: list[Sample] = []
    for dataset, samples in samples_by_dataset.items():
        if dataset not in MEGC_MAPS:
            raise ValueError(f"{dataset!r} is not part of the MEGC2019 composite "
                             f"({', '.join(MEGC_MAPS)})")
        for sample in samples:
            if sample.dataset != dataset:
                raise ValueError(f"a {sample.dataset} sample ({sample.subject}/{sample.clip})"
                                 f" is listed under {dataset!r}")
            if (drop_meb_excluded and dataset == "casme2"
                    and (sample.subject, sample.clip) in MEGC_CASME2_EXCLUDED):
                continue
            label = megc_label(sample)
            if label is not None:
                out.append(dataclasses.replace(sample, label=label,
                                               subject=f"{dataset}_{sample.subject}"))
    return out
