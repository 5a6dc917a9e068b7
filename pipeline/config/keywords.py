"""A pydantic model of a callable's keyword arguments: a YAML section that is passed
as ``**kwargs`` (a spotter's ``options:``, a recipe's ``model:``) is checked against the
code it feeds, so its names, types and defaults cannot drift from it.

Example:
    >>> def make(size: int = 64, lags: tuple[int, ...] = (1, 2)) -> None: ...
    >>> keywords_model(make, "Make").model_validate({"size": "32"}).size
    32
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model
from pydantic.errors import PydanticSchemaGenerationError


def _yaml_settable(hint: Any) -> bool:
    try:
        TypeAdapter(hint)
    except PydanticSchemaGenerationError:
        return False
    return True


def keywords_model(fn: Callable[..., Any], name: str,
                   exclude: Iterable[str] = ("self",)) -> type[BaseModel]:
    """The keywords of ``fn`` (but ``exclude``) as a model refusing unknown keys. A
    keyword whose type YAML cannot give (an object only code passes) is left out."""
    try:
        hints = typing.get_type_hints(fn)
    except NameError:  # an annotation only a type checker sees: types left unchecked
        hints = {}
    skip = set(exclude)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.name in skip or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        hint = hints.get(param.name, Any)
        if not _yaml_settable(hint):
            continue
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hint, default)
    return create_model(name, __config__=ConfigDict(extra="forbid", protected_namespaces=()),
                        **fields)
