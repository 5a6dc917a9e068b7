"""A ``.pt`` file that would run code when unpickled is refused, not trusted; mestream's
own checkpoints (tensors and plain data) load."""

from __future__ import annotations

import os

import pytest
import torch

from train.checkpoint import load_checkpoint, save_checkpoint


class _RunsCodeOnLoad:
    """Unpickling this calls os.mkdir(marker): what a hostile checkpoint could do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_checkpoint_that_runs_code_on_load_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "hostile.pt"
    torch.save({"format": "mestream-train/1", "payload": _RunsCodeOnLoad(str(marker))}, path)
    with pytest.raises(ValueError, match="holds objects other than tensors and plain data"):
        load_checkpoint(path)
    assert not marker.exists()  # before (weights_only=False) the load made it


def test_a_checkpoint_of_tensors_and_plain_data_round_trips(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", arch="stcnn", kwargs={"frames": 18},
                           state_dict={"w": torch.ones(2)}, labels=["a", "b"],
                           normalisation={"face": {"mean": 0.5, "max": 1.0}},
                           fold=("s01", 3))
    ckpt = load_checkpoint(path)
    assert ckpt["labels"] == ["a", "b"] and torch.equal(ckpt["state_dict"]["w"], torch.ones(2))
    assert ckpt["fold"] == ("s01", 3)
