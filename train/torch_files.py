"""Reading the ``.pt`` files mestream's training writes (checkpoints, spotter runs).

``torch.load`` unpickles: a file from elsewhere could run code on load. These files hold
only tensors and plain Python data (dicts, lists, tuples, str, numbers), so they are read
with ``weights_only=True``, which refuses anything else; a file that needs more is not
one of ours and gets a clear error instead of being trusted.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any


def load_torch_file(path: str | Path) -> dict[str, Any]:
    """The dict in ``path``, on the CPU, tensors and plain data only.

    Raises:
        ValueError: the file is not a dict of tensors and plain data (not written by
            mestream, or written with objects ``weights_only`` does not allow).
    """
    import torch

    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ValueError(f"{path}: holds objects other than tensors and plain data, so it "
                         "is not loaded (mestream's .pt files never do; torch.load with "
                         f"weights_only=True refused it: {first})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mestream .pt file (a {type(data).__name__}, "
                         "not a dict)")
    return data
