"""FACS action units written the way the ME datasets' sheets write them."""

from __future__ import annotations

import re
from collections.abc import Sequence


def facs_code(aus: Sequence[str]) -> str:
    """``("AU1", "AU2") -> "1+2"``: the sheets write bare AU numbers joined by ``+``.

    A laterality or intensity the ground truth carries (``"R12"``, ``"AUL4"``, ``"14A"``)
    is kept as is; none is invented, so the AUs stay recoverable.

    >>> facs_code(("AU4", "AU7")), facs_code(("R12",)), facs_code(("AUL1", "AU2"))
    ('4+7', 'R12', 'L1+2')
    """
    codes = []
    for au in aus:
        code = au.strip()
        if code[:2].upper() == "AU":
            code = code[2:]
        if not re.fullmatch(r"[LRB]?\d+[A-E]?", code):
            raise ValueError(f"not a FACS action unit: {au!r}")
        codes.append(code)
    return "+".join(codes)


def au_numbers(aus: Sequence[str]) -> frozenset[int]:
    """The bare AU numbers, laterality and intensity dropped: ``("AUR12",) -> {12}``."""
    return frozenset(int(re.sub(r"\D", "", facs_code([au]))) for au in aus)
