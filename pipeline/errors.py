"""The few exceptions mestream raises, each carrying the context a user needs."""

from __future__ import annotations

import sys
from collections.abc import Callable


class MestreamError(Exception):
    """Base class of mestream's own errors."""


class ConfigError(MestreamError):
    """A pipeline YAML is wrong. ``errors`` holds one line per problem, each naming
    the file, the YAML path, the bad value and what was expected."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


class WireError(MestreamError):
    """A message on a socket could not be decoded. Stages count and drop these."""


class SourceError(MestreamError):
    """A video source could not be opened or read."""


def command_exit(run: Callable[[], int]) -> int:
    """How a command line ends: ``run()``'s code; a ConfigError printed one line per
    problem, exit 2; Ctrl-C, exit 130 (no traceback for either)."""
    try:
        return run()
    except ConfigError as exc:
        for line in exc.errors:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
