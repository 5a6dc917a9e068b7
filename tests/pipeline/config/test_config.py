"""`mestream validate`: shipped examples pass; each class of mistake exits 2 and names
the file, line, YAML path, bad value and what was expected."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings

from bench import fuzz
from pipeline.config import parse_config
from pipeline.errors import ConfigError
from tests.conftest import REPO, mestream

# Pipeline YAMLs (training recipes under configs/train/ have their own schema and tests).
EXAMPLES = sorted(p for p in (REPO / "configs").rglob("*.yaml")
                  if "train" not in p.relative_to(REPO / "configs").parts)

GOOD = """\
version: 1
name: t
sources:
  cam0:
    type: testpattern
    frames: 5
stages:
  capture:
    type: capture
  publish:
    type: publish
    bind: tcp://127.0.0.1:5999
"""


def validate(tmp_path: Path, text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return subprocess.run(mestream("validate", str(path), *extra), cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_configs_validate(path: Path) -> None:
    out = subprocess.run(mestream("validate", str(path)), cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_good_config_validates(tmp_path: Path) -> None:
    assert validate(tmp_path, GOOD).returncode == 0


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # unknown key: names it and lists the allowed ones
        ("    frames: 5", "    frames: 5\n    fsp: 30",
         ["p.yaml:7:", "sources.cam0.fsp", "unknown key 'fsp'", "fps"]),
        # wrong type
        ("    frames: 5", "    frames: many", ["sources.cam0.frames", "'many'", "integer"]),
        # out of range
        ("    frames: 5", "    frames: 0", ["sources.cam0.frames", "greater than or equal to 1"]),
        # unknown source type
        ("    type: testpattern", "    type: webcam",
         ["p.yaml:5:", "sources.cam0.type", "'webcam'", "camera"]),
        # missing required key
        ("    type: testpattern\n    frames: 5", "    type: file",
         ["sources.cam0.path", "missing required key 'path'"]),
        # bad literal
        ("5999\n", "5999\ntransport:\n  kind: udp\n",
         ["transport.kind", "'udp'", "'ipc' or 'tcp'"]),
        # dangling reference
        ("    type: capture\n", "    type: capture\n    sources: [cam9]\n",
         ["stages.capture.sources", "unknown source 'cam9'", "cam0"]),
        # wiring: publish before capture
        ("  capture:\n    type: capture\n  publish:\n    type: publish\n"
         "    bind: tcp://127.0.0.1:5999\n",
         "  publish:\n    type: publish\n  capture:\n    type: capture\n",
         ["the first stage must be of type capture"]),
        # not YAML
        ("  cam0:\n", "  cam0: [\n", ["p.yaml:", "not valid YAML"]),
        # a port out of range (before: 99999 silently bound another port)
        ("5999\n", "99999\n", ["stages.publish.bind", "needs a port in 1..65535"]),
        # the replay port next to bind clashes with a stage's input
        ("5999\n", "5999\n    endpoint: tcp://127.0.0.1:6000\n",
         ["stages.publish.event_log.replay_bind", "also bound by stages.publish.endpoint"]),
        # not an address
        ("5999\n", "5999\n    endpoint: 127.0.0.1:6100\n",
         ["stages.publish.endpoint", "neither tcp://host:port nor ipc://path"]),
        # a key given twice (YAML keeps the last silently)
        ("    frames: 5", "    frames: 5\n    frames: 6",
         ["p.yaml:7:", "sources.cam0", "duplicate key 'frames'", "first at line 6"]),
        # ipc paths longer than a unix socket allows (before: failed at bind time)
        ("5999\n", "5999\ntransport:\n  kind: ipc\n  ipc_dir: /tmp/" + "d" * 100 + "\n",
         ["transport.ipc_dir (stage publish's input)", "more than the 107"]),
    ],
    ids=["unknown-key", "wrong-type", "range", "bad-tag", "missing", "literal",
         "reference", "order", "yaml", "port-range", "replay-clash", "not-an-address",
         "duplicate-key", "ipc-too-long"],
)
def test_each_mistake_exits_2_and_names_the_path(tmp_path, old, new, expected) -> None:
    assert old in GOOD
    out = validate(tmp_path, GOOD.replace(old, new, 1))
    assert out.returncode == 2, out.stdout + out.stderr
    for text in expected:
        assert text in out.stderr, f"{text!r} not in:\n{out.stderr}"


def test_a_cross_section_mistake_names_its_own_path_and_line(tmp_path: Path) -> None:
    """Checks across sections (ports, clashes) name the key they are about with its
    line, not "(top level)" followed by the whole config."""
    out = validate(tmp_path, GOOD.replace("5999\n", "99999\n"))
    assert out.returncode == 2
    assert out.stderr.strip().endswith(
        "p.yaml:12: stages.publish.bind: 'tcp://127.0.0.1:99999' needs a port in 1..65535")
    assert "(top level)" not in out.stderr and "'sources'" not in out.stderr


def test_an_event_log_folder_where_a_file_is_is_named(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("not a folder")
    out = validate(tmp_path, GOOD + "    event_log: {dir: logs/events}\n")
    assert out.returncode == 2
    assert f"stages.publish.event_log.dir: '{tmp_path / 'logs'}' is a file" in out.stderr


CLASSIFY = GOOD.replace("  publish:\n", "  classify:\n    type: classify\n    model: {model}\n"
                        "  publish:\n")


@pytest.mark.parametrize(
    ("model", "expected"),
    [("junk", "ONNX Runtime cannot load it"),
     ("spotter_dense.onnx", "input 'clip' is not one a clip can feed"),
     ("spotter_learned.onnx", "have no class scores")],
    ids=["not-a-model", "spotter-dense", "spotter-learned"])
def test_validate_opens_classify_models(tmp_path: Path, model: str, expected: str) -> None:
    """Before: any existing file passed validate, and the run failed mid-stream."""
    if model == "junk":
        path = tmp_path / "junk.onnx"
        path.write_bytes(b"\x08\x07garbage" * 100)
    else:
        path = REPO / "pipeline" / "weights" / model
    out = validate(tmp_path, CLASSIFY.format(model=path))
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"stages.classify.model: {path}: " in out.stderr and expected in out.stderr


def test_validate_accepts_every_bundled_classifier(tmp_path: Path) -> None:
    for name in ("au_net_synth_megc3.onnx", "stcnn_synth_casme2.onnx",
                 "time_contrast_synth_megc3.onnx"):
        path = REPO / "pipeline" / "weights" / name
        out = validate(tmp_path, CLASSIFY.format(model=path))
        assert out.returncode == 0, out.stderr


def test_missing_video_file_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("    type: testpattern\n    frames: 5",
                        "    type: file\n    path: nowhere/clip.mp4")
    out = validate(tmp_path, text)
    assert out.returncode == 2
    assert "sources.cam0.path: no such file" in out.stderr
    assert str(tmp_path / "nowhere" / "clip.mp4") in out.stderr  # relative to the YAML


def test_env_interpolation_and_overrides(tmp_path: Path, monkeypatch) -> None:
    text = GOOD.replace("frames: 5", "frames: ${env:MESTREAM_TEST_FRAMES}")
    out = validate(tmp_path, text)
    assert out.returncode == 2 and "MESTREAM_TEST_FRAMES is not set" in out.stderr
    monkeypatch.setenv("MESTREAM_TEST_FRAMES", "7")
    assert validate(tmp_path, text).returncode == 0
    out = validate(tmp_path, GOOD, "--set", "stages.publish.hwm=0")
    assert out.returncode == 2 and "stages.publish.hwm" in out.stderr


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    out = subprocess.run(mestream("validate", str(tmp_path / "absent.yaml")), cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "cannot read" in out.stderr


@settings(max_examples=300, deadline=None, database=None)
@given(data=fuzz.strategies()["config"])
def test_fuzzed_configs_give_a_config_or_errors_naming_their_path(data) -> None:
    """The CI share of bench/fuzz.py: a valid config with values of the
    wrong type, unknown keys, deleted keys, and arbitrary YAML-like data never escape
    as anything but a ConfigError whose lines name the YAML path."""
    fuzz.check_config(data)


SPOT_BODY = {"version": 1, "name": "t", "sources": {"cam": {"type": "testpattern"}},
             "stages": {"capture": {"type": "capture"}, "align": {"type": "align"},
                        "spot": {"type": "spot"},
                        "publish": {"type": "publish", "bind": "tcp://127.0.0.1:5999"}}}


@pytest.mark.parametrize(("spotter", "options", "expected"), [
    ("flow", {"threshold": "high"},
     ["p.yaml: stages.spot.options.threshold: Input should be a valid number", "'high'"]),
    ("flow", {"thresh": 2.0},
     ["stages.spot.options: unknown flow spotter option(s) thresh", "threshold, top_cells"]),
    ("dense", {"stride_ms": [1, 2]}, ["stages.spot.options.stride_ms"]),
    ("lbp", {"block_grid": 2.5}, ["stages.spot.options.block_grid", "integer"]),
], ids=["wrong-type", "unknown", "dense-type", "lbp-type"])
def test_a_spotter_option_is_checked_against_that_spotter_at_load(spotter, options,
                                                                   expected) -> None:
    body = json.loads(json.dumps(SPOT_BODY))
    body["stages"]["spot"].update(spotter=spotter, options=options)
    with pytest.raises(ConfigError) as err:
        parse_config(body, source="p.yaml")
    for text in expected:
        assert text in str(err.value), str(err.value)


def test_spotter_options_are_read_from_each_spotters_own_keywords() -> None:
    body = json.loads(json.dumps(SPOT_BODY))
    # Coerced to the constructor's types; the dense spotter's max_ms, which its old
    # hand-kept list of options refused, is one of its keywords.
    body["stages"]["spot"].update(spotter="flow", options={"threshold": "2.5",
                                                           "context_ms": [200, 900]})
    assert parse_config(body).stages["spot"].options == {"threshold": 2.5,
                                                         "context_ms": (200.0, 900.0)}
    body["stages"]["spot"].update(spotter="dense", options={"max_ms": 400})
    assert parse_config(body).stages["spot"].options == {"max_ms": 400.0}


def test_opencv_threads_default_to_one_per_stage_process() -> None:
    body = json.loads(json.dumps(SPOT_BODY))
    assert parse_config(body).stages["align"].opencv_threads == 1
    body["stages"]["align"]["opencv_threads"] = -1
    with pytest.raises(ConfigError, match=r"stages\.align\.opencv_threads"):
        parse_config(body)
