"""Run inside a network namespace by test_multi_host.py: subscribe with CURVE keys and
print each record as a JSON line until the given streams have ended."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.client import EventSubscriber
from pipeline.runtime.keys import CurveKeys


def main(endpoint: str, keys_dir: str, *streams: str) -> int:
    keys = Path(keys_dir)
    curve = CurveKeys.client(keys / "server.key", keys / "client.key_secret")
    with EventSubscriber(endpoint, timeout_s=60, curve=curve) as sub:
        print(json.dumps({"type": "subscribed"}), flush=True)
        for record in sub.until_end(list(streams)):
            print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
