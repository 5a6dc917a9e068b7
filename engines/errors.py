"""What goes wrong when opening or feeding an engine, as exceptions callers can catch.

Example:
    >>> try:
    ...     raise BackendUnavailable("tensorrt is not installed")
    ... except RuntimeError as exc:
    ...     print(exc)
    tensorrt is not installed
"""

from __future__ import annotations


class BackendUnavailable(RuntimeError):
    """A backend's library, or the hardware it needs, is not on this machine.

    The message says what is missing and how to install it; ``mestream engine ...``
    prints it and exits with code 2.
    """


class EngineInputError(ValueError):
    """A batch does not fit the engine: unknown or missing input names, wrong shapes,
    different batch sizes across inputs, or more clips than the engine's max batch."""


class EngineLoadError(RuntimeError):
    """An engine file exists but cannot be used here (for a TensorRT plan: built by
    another TensorRT version or for another GPU). The cure is a rebuild."""
