"""Tiny real models for the engine tests: an STCNN checkpoint (18 frames, 32 x 32, random
weights) exported once per session to an FP32 ONNX, an FP16 ONNX and a torch.export
``.pt2`` with the same weights and the ONNX names (``face`` -> ``logits``)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

STCNN = {"frames": 18, "size": 32, "num_classes": 3}
LABELS = ["negative", "positive", "surprise"]
FACE = (1, 18, 32, 32)          # one clip, without the batch axis


@dataclass(frozen=True)
class TinyModel:
    checkpoint: Path
    onnx: Path           # FP32 graph, with model.pt2 beside it
    onnx_fp16: Path
    program: Path        # model.pt2


def clips(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *FACE), dtype=np.float32)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    import torch

    from engines.torch_program import export_program
    from train.export import example_inputs, export_onnx, load_checkpoint
    from train.models.registry import build_model

    d = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    model = build_model("stcnn", STCNN)
    ckpt = d / "stcnn.pt"
    torch.save({"arch": "stcnn", "kwargs": STCNN, "state_dict": model.state_dict(),
                "labels": LABELS, "trained_on": "unit test (random weights)"}, ckpt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = export_onnx(ckpt, d / "model.onnx")
        export_onnx(ckpt, d / "model_fp16.onnx", precision="fp16")
    loaded, _ = load_checkpoint(ckpt)
    export_program(loaded, tuple(example_inputs("stcnn", STCNN).values()), d / "model.pt2",
                   input_names=["face"], output_names=["logits"], metadata=meta)
    assert json.loads(meta["mestream.labels"]) == LABELS
    return TinyModel(ckpt, d / "model.onnx", d / "model_fp16.onnx", d / "model.pt2")
