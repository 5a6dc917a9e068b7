"""Bundle a trained learned-spotter ONNX with the post-processing chosen on the validation
scenes (:mod:`train.spotter.select`) as its ``mestream.spotter.*`` metadata, which
:class:`~pipeline.spotting.learned.LearnedSpotter` takes as its defaults.

Run (what made ``pipeline/weights/spotter_learned.onnx``)::

    .venv/bin/python -m train.spotter.bundle runs/spotter_learned/spotter_learned.onnx \\
        pipeline/weights/spotter_learned.onnx --threshold 0.9 --low 0.54 --gap-ms 80 \\
        --min-ms 80 --note train_steps=500 \\
        --note "train_seeds=1000-1021 (30 fps x 30 s, 18 events/min)" \\
        --note "validation_seeds=500-509 (30 fps x 30 s, 12 events/min): post-processing choice" \\
        --note recipe=configs/train/spotter/learned.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import onnx

    ap = argparse.ArgumentParser(description="bundle a learned spotter model")
    ap.add_argument("model", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--threshold", type=float, required=True)
    ap.add_argument("--low", type=float, required=True)
    ap.add_argument("--gap-ms", type=float, required=True)
    ap.add_argument("--min-ms", type=float, required=True)
    ap.add_argument("--note", action="append", default=[], metavar="KEY=VALUE",
                    help="more mestream.spotter.KEY metadata")
    a = ap.parse_args(argv)
    proto = onnx.load(str(a.model))
    meta = {"threshold": a.threshold, "low": a.low, "gap_ms": a.gap_ms, "min_ms": a.min_ms}
    meta.update(n.split("=", 1) for n in a.note)
    new = {f"mestream.spotter.{k}": str(v) for k, v in meta.items()}
    # A note replaces the export's entry of the same key (a model carries each key once).
    kept = [(e.key, e.value) for e in proto.metadata_props if e.key not in new]
    del proto.metadata_props[:]
    for key, value in [*kept, *new.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(a.out))
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
