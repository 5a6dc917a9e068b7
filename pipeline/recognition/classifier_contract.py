"""What a classify stage's model must offer: inputs a clip can feed, a class output, and
labels (and action units) that match it.

Checked when the classify stage starts, so a wrong model (a spotter's, a model of another
input layout) fails at once with one line naming ``stages.<name>.model`` instead of in
the first batch, after the stream has run; and by ``mestream validate``, which opens an
ONNX model on ONNX Runtime's CPU provider, so a config is checked on any machine.

Example:
    >>> from engines.engine import TensorSpec
    >>> face = {"face": TensorSpec("face", "float32", (None, 1, 18, 64, 64))}
    >>> logits = {"logits": TensorSpec("logits", "float32", (None, 3))}
    >>> classifier_problems(face, logits, {"mestream.labels": '["a", "b", "c"]'})
    []
    >>> classifier_problems({"clip": face["face"]}, logits, {})[0][:41]
    "input 'clip' is not one a clip can feed; "
"""

from __future__ import annotations

import json
from pathlib import Path

from engines.engine import TensorSpec
from pipeline.stages.classify.clip_tensor import SOURCE_BUFFER

CLASS_OUTPUTS = ("logits", "label")


def _static(spec: TensorSpec, rank: int) -> str | None:
    """Why ``spec`` is not (N, rank-1 fixed positive dims), or None."""
    if len(spec.shape) != rank:
        return f"has {len(spec.shape)} axes, expected {rank} (batch first)"
    if any(d is None or d < 1 for d in spec.shape[1:]):
        return "has a dynamic axis after the batch; export it with fixed clip sizes"
    return None


def classifier_problems(inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec],
                        metadata: dict[str, str]) -> list[str]:
    """Everything that stops the classify stage from feeding this model or reading its
    answer; empty when it can serve."""
    problems = []
    if not inputs:
        problems.append("the model has no inputs")
    for name, spec in inputs.items():
        if name not in SOURCE_BUFFER:
            problems.append(f"input {name!r} is not one a clip can feed; expected one of "
                            f"{sorted(SOURCE_BUFFER)} (is it a spotter's model?)")
            continue
        why = _static(spec, 5)
        if why:
            problems.append(f"input {name} {why}")
            continue
        # (C, T, S, S) for the 3D-CNNs, (T, C, S, S) for the time-contrast net.
        size_h, size_w = spec.shape[3], spec.shape[4]
        if size_h != size_w:
            problems.append(f"input {name} has a {size_h}x{size_w} face; clips are square")
    heads = [n for n in CLASS_OUTPUTS if n in outputs]
    if not heads:
        problems.append(f"outputs {sorted(outputs)} have no class scores; expected one "
                        f"named {' or '.join(CLASS_OUTPUTS)}")
        return problems
    head = outputs[heads[0]]
    why = _static(head, 2)
    if why:
        problems.append(f"output {head.name} {why}")
        return problems
    classes = int(head.shape[1])
    labels = _json_list(metadata, "mestream.labels", problems)
    if labels is not None and len(labels) != classes:
        problems.append(f"mestream.labels names {len(labels)} classes but output "
                        f"{head.name} has {classes}")
    aus = _json_list(metadata, "mestream.aus", problems)
    if aus:
        au_head = outputs.get("au_logits")
        if au_head is None:
            problems.append("mestream.aus names action units but the model has no "
                            "au_logits output")
        elif _static(au_head, 2) is None and au_head.shape[1] != len(aus):
            problems.append(f"mestream.aus names {len(aus)} action units but au_logits "
                            f"has {au_head.shape[1]}")
    return problems


def _json_list(metadata: dict[str, str], key: str, problems: list[str]) -> list | None:
    raw = metadata.get(key)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list):
        problems.append(f"{key} is not a JSON list: {raw[:80]!r}")
        return None
    return value


def check_classifier_file(path: Path) -> list[str]:
    """Open an ONNX model on ONNX Runtime's CPU provider and list its problems as a
    classifier (``validate``). Other artifacts (a TensorRT plan, a torch program) need
    their backend and are checked when the stage opens them."""
    from engines.errors import EngineLoadError
    from engines.onnxruntime_engine import OnnxRuntimeEngine

    if path.suffix != ".onnx":
        return []
    try:
        engine = OnnxRuntimeEngine(path, intra_op_threads=1)
    except (EngineLoadError, ValueError) as exc:
        return [str(exc).removeprefix(f"{path}: ")]
    try:
        return classifier_problems(engine.inputs, engine.outputs, engine.metadata)
    finally:
        engine.close()
