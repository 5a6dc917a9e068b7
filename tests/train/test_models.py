"""The seed models match the paper's layer tables (parameter counts from
../shared/docs/papers.md, checked against the Keras code's arithmetic)."""

from __future__ import annotations

import pytest
import torch

from train.models import MicroExpFuseNetIntermediate, MicroExpFuseNetLate, MicroExpSTCNN


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("cls", "frames", "size", "expected"), [
    (MicroExpSTCNN, 96, 64, 44_241_667),
    (MicroExpSTCNN, 18, 64, 1_643_267),
    (MicroExpFuseNetIntermediate, 96, 32, 177_088_515),
    (MicroExpFuseNetIntermediate, 18, 32, 6_694_915),
    (MicroExpFuseNetLate, 96, 32, 177_221_123),
    (MicroExpFuseNetLate, 18, 32, 6_827_523),
])
def test_parameter_counts_match_the_paper(cls, frames, size, expected) -> None:
    with torch.device("meta"):  # no memory for the 177 M weights
        model = cls(frames=frames, size=size, num_classes=3)
    assert n_params(model) == expected


def test_no_expression_class_adds_one_output() -> None:
    m = MicroExpSTCNN(frames=18, num_classes=3, no_expression_class=True)
    assert m(torch.zeros(1, 1, 18, 64, 64)).shape == (1, 4)


def test_a_clip_shorter_than_the_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match="temporal kernel"):
        MicroExpSTCNN(frames=10)


def test_fusion_uses_both_regions() -> None:
    torch.manual_seed(0)
    m = MicroExpFuseNetIntermediate(frames=18).eval()
    eyes, mouth = torch.randn(1, 1, 18, 32, 32), torch.randn(1, 1, 18, 32, 32)
    base = m(eyes, mouth)
    assert not torch.allclose(base, m(eyes, torch.zeros_like(mouth)))
    assert not torch.allclose(base, m(torch.zeros_like(eyes), mouth))
