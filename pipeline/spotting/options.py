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

import inspect
import typing
from functools import cache
from importlib import import_module
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model
from pydantic.errors import PydanticSchemaGenerationError

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
    init = spotter_class(name).__init__
    try:
        hints = typing.get_type_hints(init)
    except NameError:  # an annotation only a type checker sees: types left unchecked
        hints = {}
    fields: dict[str, Any] = {}
    for param in inspect.signature(init).parameters.values():
        if param.name in NOT_OPTIONS or param.kind in (param.VAR_KEYWORD,
                                                        param.VAR_POSITIONAL):
            continue
        hint = hints.get(param.name, Any)
        if not _yaml_settable(hint):
            continue  # an object only code can pass (the flow spotter's cells, rules)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hint, default)
    return create_model(f"{name.title()}SpotterOptions",
                        __config__=ConfigDict(extra="forbid", protected_namespaces=()),
                        **fields)


def _yaml_settable(hint: Any) -> bool:
    try:
        TypeAdapter(hint)
    except PydanticSchemaGenerationError:
        return False
    return True


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
