"""The recogniser's training path on a tiny set: clips rendered in the aligned face in
both domains, spotter-like spans, a model trained, exported and read back with its
action units; seed 2's intensity term really trains the intensity head."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipeline.recognition.au_rules import AUS
from pipeline.synth.base_faces import load_base_faces
from tests.conftest import REPO
from train.recognition.data import ClipJob, pack, render_clip
from train.recognition.fit import (
    FRAMES,
    Domain,
    cut,
    final_model,
    jittered_span,
    model_loss,
    targets,
)
from train.spotter.canonical import gray_base


@pytest.fixture(scope="module")
def tiny() -> dict[str, Domain]:
    base = gray_base(load_base_faces(
        [REPO / "configs" / "examples" / "media" / "grid_bbaf2n.mpg"])[0])
    out = {}
    for domain in ("train", "heldout"):
        rows = [render_clip(ClipJob(domain, k, 1000 + k), [base]) for k in range(6)]
        out[domain] = Domain(domain, {"domain": np.str_(domain), **pack(rows)})
    return out


def test_clips_cover_the_expression_and_its_context(tiny) -> None:
    for dom in tiny.values():
        a = dom.arrays
        for k in range(len(dom)):
            pts = a["pts"][a["start"][k]:a["start"][k + 1]]
            assert pts[0] < a["onset_ns"][k] - 300e6 and pts[-1] > a["offset_ns"][k] + 300e6
        assert a["face"].shape[1:] == (64, 64) and a["mouth"].shape[1:] == (32, 32)
        assert set(a["aus"][0].split("+")) <= set(AUS)


def test_spotter_like_spans_overlap_the_truth_by_half() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        s, e = jittered_span(1_000_000, 3_000_000, rng)
        inter = max(0, min(e, 3_000_000) - max(s, 1_000_000))
        union = max(e, 3_000_000) - min(s, 1_000_000)
        assert inter / union >= 0.5 and s != 1_000_000


def test_a_tiny_training_run_exports_a_model_the_classify_stage_reads(tiny, tmp_path) -> None:
    from engines.onnxruntime_engine import OnnxRuntimeEngine
    from train.export import export_onnx, load_checkpoint

    ckpt = final_model("au_net", "megc3", 2, 0, tiny["train"], tmp_path)
    meta = export_onnx(ckpt, tmp_path / "au.onnx")
    assert json.loads(meta["mestream.aus"]) == list(AUS)
    assert meta["mestream.label_set"] == "megc3"
    assert meta["mestream.intensity_trained"] == "false"
    assert "synthetic" in meta["mestream.trained_on"]
    model, _ = load_checkpoint(ckpt)
    x = np.random.default_rng(0).normal(size=(2, 1, FRAMES, 64, 64)).astype(np.float32)
    engine = OnnxRuntimeEngine(tmp_path / "au.onnx")
    try:
        got = engine.infer({"face": x})
    finally:
        engine.close()
    with torch.no_grad():
        want = model(torch.from_numpy(x))
    np.testing.assert_allclose(got["logits"], want.logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(got["au_logits"], want.au_logits.numpy(), atol=1e-4)


def test_the_intensity_term_trains_the_intensity_head(tiny) -> None:
    """The head's gradient comes from the intensity term alone: zero without it."""
    from train.models import TimeContrastedMemoryNet
    from train.normalise import Normalisation
    from train.recognition.fit import TIME_CONTRAST_KWARGS, _tensors

    dom = tiny["train"]
    idx = np.arange(len(dom))
    spans: list = []
    clips = cut(dom, idx, np.random.default_rng(0), {}, spans)
    from train.recognition.fit import spot_targets

    y, mask, hot = targets(dom, idx, "megc3")
    spot = spot_targets(dom, idx, spans)
    model = TimeContrastedMemoryNet(frames=FRAMES, size=64, num_classes=3,
                                    **TIME_CONTRAST_KWARGS)
    xs = _tensors("time_contrast", clips, {"face": Normalisation(120.0, 130.0)})
    head = [p for n, p in model.named_parameters() if "intensity" in n]
    assert head
    grads = []
    for weight in (0.5, 0.0):
        model.zero_grad()
        loss = model_loss(model(*xs), torch.from_numpy(y), torch.ones(len(y), dtype=bool),
                          torch.from_numpy(hot), torch.from_numpy(spot),
                          torch.from_numpy(dom.arrays["intensity_px"].astype(np.float32)),
                          intensity_weight=weight)
        loss.backward()
        grads.append(sum(float(p.grad.abs().sum()) if p.grad is not None else 0.0
                         for p in head))
    assert grads[0] > 0.0 and grads[1] == 0.0


def test_a_trained_intensity_head_is_marked_in_the_export(tiny, tmp_path) -> None:
    from train.export import export_onnx

    ckpt = final_model("time_contrast", "megc3", 1, 0, tiny["train"], tmp_path)
    meta = export_onnx(ckpt, tmp_path / "tc.onnx")
    assert meta["mestream.intensity_trained"] == "true"
    assert json.loads(meta["mestream.outputs"]) == ["spot", "label", "intensity"]


def test_the_flow_variant_serves_raw_frames_with_its_label_source_and_unseen_faces(
        tiny, tmp_path) -> None:
    """au_net_lk: an AUNet whose input is the raw frames (its flow layer needs the first
    frame's texture, so the export says reference none and the classify stage does not
    difference them); --exclude-subjects keeps faces out of training and says which;
    --label-source reaches the metadata the classify stage reads."""
    from pipeline.stages.classify.clip_tensor import model_input
    from train.export import export_onnx, load_checkpoint

    dom = tiny["train"]
    two = dict(dom.arrays)
    two["subject"] = np.asarray(["bbaf2n"] * 3 + ["other"] * (len(dom) - 3))
    both = Domain("train", two)
    with pytest.raises(ValueError, match="no such subjects"):
        final_model("au_net_lk", "megc3", 1, 0, both, tmp_path, exclude=("nobody",))
    ckpt = final_model("au_net_lk", "megc3", 1, 0, both, tmp_path, exclude=("other",),
                       label_source="aus")
    meta = export_onnx(ckpt, tmp_path / "lk.onnx")
    preparation = json.loads(meta["mestream.preparation"])
    assert preparation["reference"] == "none"
    assert meta["mestream.label_source"] == "aus"
    _, saved = load_checkpoint(ckpt)
    assert saved["train_subjects"] == ["bbaf2n"] and saved["test_subjects"] == ["other"]
    assert saved["kwargs"]["motion"] == "lucas_kanade"
    assert "faces left out of training: other" in meta["mestream.trained_on"]
    # What the classify stage feeds it: raw frames, normalised, not differences.
    clip = {"face": np.full((FRAMES, 64, 64), 90, np.uint8)}
    x = model_input("face", (1, FRAMES, 64, 64), clip,
                    json.loads(meta["mestream.normalisation"]), preparation["reference"])
    assert np.ptp(x) == 0.0 and float(x.max()) != 0.0


def test_the_comparison_tests_every_face_once_on_both_domains(tiny, tmp_path) -> None:
    """Leave-subjects-out over both domains, one row per domain and seed, the class read
    from the head and from the AU rules, each also with the mirrored clip averaged in."""
    from train.recognition.fit import compare

    def two_subjects(dom: Domain) -> Domain:
        a = dict(dom.arrays)
        a["subject"] = np.asarray(["s1", "s2"] * (len(dom) // 2))
        return Domain(dom.name, a)

    out = compare(["au_net"], [0], 2, 1, "megc3", two_subjects(tiny["train"]),
                  two_subjects(tiny["heldout"]), tmp_path)
    assert out["folds"] == [["s1"], ["s2"]]
    rows = out["models"]["au_net"]
    for dom in ("train", "heldout"):
        (row,) = rows[dom]
        _, mask, _ = targets(tiny[dom], np.arange(len(tiny[dom])), "megc3")
        assert row["clips"] == int(mask.sum())
        for key in ("head", "head_mirror", "rules", "rules_mirror"):
            assert 0.0 <= row[key]["accuracy"] <= 1.0
        assert row["direction"][1] == row["direction_mirror"][1]
    assert json.loads((tmp_path / "results.json").read_text()) == out
