"""A source factory whose process dies on open: drives the supervisor's give-up path."""

from __future__ import annotations

import os


def make(stream: str, **options: object) -> object:
    os._exit(int(options.get("code", 3)))  # noqa: SLF001  (a crash, on purpose)
