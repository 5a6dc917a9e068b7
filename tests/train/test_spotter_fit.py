"""The learned spotter's training recipe: a misspelt key fails with its file, and the focal
loss (``focal_gamma``) leaves plain weighted BCE unchanged at 0 and shifts weight from the
ticks the model already gets right to the ones it gets wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from pipeline.config import read_yaml  # noqa: E402
from train.spotter.fit import check_recipe, sequence_loss  # noqa: E402

RECIPES = sorted([*Path("configs/train/spotter").glob("learned*.yaml"),
                  *Path("lab/spotter/recipes").glob("learned*.yaml")])


class FixedLogits(torch.nn.Module):
    """A stand-in network whose logits are its input (the loss is what is under test)."""

    delay = 2

    def forward(self, xc: torch.Tensor) -> torch.Tensor:
        return xc[..., 0]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_the_shipped_recipes_use_only_known_keys(path: Path) -> None:
    cfg, _ = read_yaml(path)
    check_recipe(cfg, path)


def test_a_misspelt_recipe_key_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown key\(s\) focal_gama"):
        check_recipe({"model": {}, "focal_gama": 2.0}, tmp_path / "bad.yaml")


def test_focal_loss_weighs_the_ticks_the_model_gets_wrong() -> None:
    model = FixedLogits()
    # Ticks 2..7 score ticks 0..5: two confident right, one confident wrong positive, ...
    logits = torch.tensor([[0.0, 0.0, 4.0, -4.0, -4.0, 0.0, 0.0, 0.0]])[..., None]
    labels = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    weights = torch.ones_like(labels)
    plain = sequence_loss(model, logits, labels, weights, warmup=0, pos_weight=1.0)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[0, 2:, 0], labels[0, :6])
    assert plain.item() == pytest.approx(expected.item(), rel=1e-6)
    assert sequence_loss(model, logits, labels, weights, 0, 1.0, 0.0).item() == plain.item()
    easy = torch.tensor([[0.0, 0.0, 4.0, -4.0]])[..., None]       # both right
    hard = torch.tensor([[0.0, 0.0, -4.0, 4.0]])[..., None]       # both wrong
    two = torch.tensor([[1.0, 0.0]])
    w2 = torch.ones_like(two)
    ratio_plain = (sequence_loss(model, hard, two, w2, 0, 1.0)
                   / sequence_loss(model, easy, two, w2, 0, 1.0))
    ratio_focal = (sequence_loss(model, hard, two, w2, 0, 1.0, 2.0)
                   / sequence_loss(model, easy, two, w2, 0, 1.0, 2.0))
    assert ratio_focal > 100 * ratio_plain
