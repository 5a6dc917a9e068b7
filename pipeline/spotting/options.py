"""A spot stage's ``options:``, typed per spotter and checked when the YAML is loaded.

Each spotter's keyword arguments are its options: their names, types and defaults are
read from its constructor, so the check cannot drift from the code (it did: the dense
spotter's hand-kept list refused its own ``max_ms``). ``me_ms`` comes from the stage
section itself, and ``runner`` / ``autorun`` from the runtime, so they are not options.
A wrong name or type fails at load with its YAML path
(``stages.spot.options.threshold: Input should be a valid number, got 'high'``).

Example:
    >>> check_options("flow", {"threshold": "2.5"})
    {'threshold': 2.5}
    >>> sorted(option_names("learned"))[:3]
    ['batch_ms', 'gap_ms', 'history_ms']
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Any

from pydantic import BaseModel

from pipeline.config.keywords import keywords_model

SPOTTER_CLASSES: dict[str, str] = {
    "flow": "pipeline.spotting.flow:OpticalFlowSpotter",
    "lbp": "pipeline.spotting.lbp:LBPChiSquareSpotter",
    "learned": "pipeline.spotting.learned:LearnedSpotter",
    "dense": "pipeline.spotting.dense:DenseSpotter",
}
NOT_OPTIONS = frozenset({"self", "me_ms", "runner", "autorun"})


def spotter_class(name: str) -> type:
    module, _, attr = SPOTTER_CLASSES[name].partition(":")
    return getattr(import_module(module), attr)


@cache
def options_model(name: str) -> type[BaseModel]:
    """The pydantic model of spotter ``name``'s options (unknown keys refused)."""
    return keywords_model(spotter_class(name).__init__, f"{name.title()}SpotterOptions",
                          NOT_OPTIONS)


def option_names(name: str) -> list[str]:
    return list(options_model(name).model_fields)


def check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` validated for spotter ``name``: the keys given, their values
    coerced to the constructor's types. Raises pydantic's ValidationError (each error
    located at its option) or ValueError naming the unknown keys and the known ones."""
    unknown = sorted(set(options) - set(option_names(name)))
    if unknown:
        raise ValueError(f"unknown {name} spotter option(s) {', '.join(unknown)}; "
                         f"expected some of: {', '.join(option_names(name))}")
    return options_model(name).model_validate(options).model_dump(exclude_unset=True)
