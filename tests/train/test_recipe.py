"""Training recipes: every shipped one validates, and errors name the file, the line and
the YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from tests.conftest import REPO
from train.recipe import load_recipe

RECIPES = sorted((REPO / "configs" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_validate(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.output.dir.is_absolute()


BAD = """\
model:
  name: stcnn
data:
  dataset: casme2
  root: data
  classes: [a, b]
optimiser:
  name: sgd
  lr: -1
output: {dir: out}
preparation: {framez: 18}
"""


def test_errors_name_the_yaml_path_and_line(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    errors = info.value.errors
    assert any(e.startswith(f"{path}:9: optimiser.lr: ") and "-1" in e for e in errors)
    assert any(f"{path}:11: preparation.framez: unknown key 'framez'" in e for e in errors)


def test_unknown_model_and_override(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(BAD.replace("lr: -1", "lr: 0.1").replace("{framez: 18}", "{frames: 18}"))
    assert load_recipe(path).optimiser.lr == 0.1
    assert load_recipe(path, ["epochs=3", "optimiser.name=adam"]).epochs == 3
    with pytest.raises(ConfigError, match=r"model\.name"):
        load_recipe(path, ["model.name=resnet"])
    with pytest.raises(ConfigError, match="frames >= 17"):
        load_recipe(path, ["preparation.frames=8"])
