"""Logging set-up for the CLI and stage processes: one line per record, text or JSON;
and the rate at which a repeated warning is logged."""

from __future__ import annotations

import json
import logging
import sys


class JsonFormatter(logging.Formatter):
    def __init__(self, who: str):
        super().__init__()
        self.who = who

    def format(self, record: logging.LogRecord) -> str:
        body = {"ts": record.created, "level": record.levelname, "proc": self.who,
                "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body)


def configure_logging(level: str = "INFO", fmt: str = "text", who: str = "mestream") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(who))
    else:
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s %(levelname)-7s [{who}] %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def worth_logging(count: int) -> bool:
    """Whether the ``count``-th of a kind of dropped message is logged: a flood of junk
    must not flood the log, so the first 10, then every 1000th (with the count)."""
    return count <= 10 or count % 1000 == 0
