"""Join trained learned-spotter checkpoints into one ONNX model whose logit is the mean
of theirs (:class:`~train.models.time_contrast.StreamSpotterEnsemble`). The result runs
as ``spotter: learned`` unchanged; choose its post-processing with
:mod:`train.spotter.select` and store it with :mod:`train.spotter.bundle`, as for one model.

Run::

    .venv/bin/python -m train.spotter.ensemble runs/a/spotter_learned.pt \\
        runs/b/spotter_learned.pt --out runs/spotter_ensemble/spotter_learned.onnx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train.models.time_contrast import StreamSpotterEnsemble, TimeContrastStreamSpotter
from train.spotter.fit import export_onnx
from train.torch_files import load_torch_file


def _member(ckpt: dict) -> TimeContrastStreamSpotter:
    """A model from a checkpoint written by :mod:`train.spotter.fit`."""
    model = TimeContrastStreamSpotter(**{k: tuple(v) if isinstance(v, list) else v
                                         for k, v in ckpt["config"]["model"].items()})
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def load_ensemble(paths: list[Path]) -> tuple[StreamSpotterEnsemble, dict[str, str]]:
    """The ensemble of the checkpoints ``paths`` and the metadata naming its members
    (their count and the runs they came from)."""
    members, runs = [], []
    for p in paths:
        ckpt = load_torch_file(p)
        members.append(_member(ckpt))
        runs.append(str(ckpt["config"].get("out", p.parent)))
    return StreamSpotterEnsemble(members), {"mestream.spotter.members": str(len(paths)),
                                            "mestream.spotter.member_runs": ",".join(runs)}


def build(paths: list[Path], out: Path) -> Path:
    """Export the ensemble of ``paths`` to ``out`` (metadata: its members' recipes)."""
    ensemble, meta = load_ensemble(paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    return export_onnx(ensemble, out, meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="join learned-spotter checkpoints into one model")
    ap.add_argument("checkpoints", nargs="+", type=Path, help="spotter_learned.pt files")
    ap.add_argument("--out", type=Path, required=True, help="the ONNX file to write")
    a = ap.parse_args(argv)
    print(build(a.checkpoints, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
