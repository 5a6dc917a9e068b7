"""The spotter training recipes: a misspelt key or a wrong type fails with its file, line
and path before any data is read; the shipped ones load; and the focal
loss (``focal_gamma``) leaves plain weighted BCE unchanged at 0 and shifts weight from the
ticks the model already gets right to the ones it gets wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from pipeline.errors import ConfigError  # noqa: E402
from train.spotter.fit import sequence_loss  # noqa: E402
from train.spotter.recipe import (  # noqa: E402
    DenseSpotterRecipe,
    LearnedSpotterRecipe,
    load_recipe,
)

RECIPES = sorted([*Path("configs/train/spotter").glob("learned*.yaml"),
                  *Path("lab/spotter/recipes").glob("learned*.yaml")])


class FixedLogits(torch.nn.Module):
    """A stand-in network whose logits are its input (the loss is what is under test)."""

    delay = 2

    def forward(self, xc: torch.Tensor) -> torch.Tensor:
        return xc[..., 0]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_the_shipped_recipes_load(path: Path) -> None:
    recipe = load_recipe(path, LearnedSpotterRecipe)
    assert recipe.data and recipe.steps >= 1


def test_the_shipped_dense_recipe_loads() -> None:
    recipe = load_recipe(Path("configs/train/spotter/dense.yaml"), DenseSpotterRecipe)
    assert recipe.class_mix == (0.4, 0.15, 0.45)


@pytest.mark.parametrize(("text", "expected"), [
    ("data: [d]\nfocal_gama: 2.0\n", "bad.yaml:2: focal_gama: unknown key 'focal_gama'"),
    ("data: [d]\nsteps: many\n", "bad.yaml:2: steps: Input should be a valid integer"),
    ("data: [d]\nmodel:\n  lags: [1, x]\n",
     "bad.yaml:3: model.lags[1]: Input should be a valid integer"),
    ("data: [d]\nmodel:\n  hiden: 8\n", "bad.yaml:3: model.hiden: unknown key 'hiden'"),
    ("steps: 5\n", "bad.yaml:1: data: missing required key 'data'"),
], ids=["misspelt", "type", "model-type", "model-key", "missing"])
def test_a_recipe_mistake_names_its_file_line_and_path(tmp_path: Path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_recipe(path, LearnedSpotterRecipe)
    assert expected in str(err.value).replace(str(tmp_path) + "/", ""), str(err.value)


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
