"""``mestream engine build|info|bench`` through :func:`engines.commands.main` (the same
parser ``mestream.cli`` registers): exit 2 with the install hint without TensorRT, and
what info and bench print."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engines import commands, tensorrt_import
from engines.errors import BackendUnavailable
from tests.conftest import REPO
from tests.engines.fake_tensorrt import FakeTensorRT


@pytest.fixture
def no_tensorrt(monkeypatch):
    def missing(instead: str = tensorrt_import.RUN_INSTEAD):
        raise BackendUnavailable(tensorrt_import.INSTALL_HINT + instead)
    monkeypatch.setattr(tensorrt_import, "import_tensorrt", missing)


def test_build_without_tensorrt_exits_2_with_the_install_hint(tiny, no_tensorrt,
                                                              capsys) -> None:
    code = commands.main(["engine", "build", str(tiny.onnx_fp16), "--precision", "fp16",
                          "--out", str(tiny.onnx.parent / "x.plan")])
    err = capsys.readouterr().err
    assert code == 2
    assert "tensorrt is not installed" in err and "pip install tensorrt-cu12" in err
    # `build` has no --backend (issue 22: the hint suggested one): it says what to do.
    assert "--backend" not in err and "makes TensorRT plans only" in err


def test_build_as_a_module_without_tensorrt(tiny) -> None:
    if tensorrt_import.tensorrt_installed():
        pytest.skip("tensorrt is installed here")
    proc = subprocess.run([sys.executable, "-m", "engines.commands", "engine", "build",
                           str(tiny.onnx)], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "pip install tensorrt-cu12" in proc.stderr
    assert "--backend" not in proc.stderr


def test_build_with_a_fake_tensorrt(tiny, tmp_path, monkeypatch, capsys) -> None:
    fake = FakeTensorRT("10.13.3.9")
    monkeypatch.setattr(tensorrt_import, "import_tensorrt", lambda *_: fake)
    code = commands.main(["engine", "build", str(tiny.onnx), "--precision", "fp16",
                          "--min-batch", "1", "--opt-batch", "8", "--max-batch", "32",
                          "--out", str(tmp_path / "stcnn.plan"), "--timing-cache",
                          str(tmp_path / "t.cache"), "--workspace-mb", "128"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "stcnn.plan").is_file() and (tmp_path / "t.cache").is_file()
    assert "TensorRT 10.13.3.9 fp16, batch 1/8/32" in capsys.readouterr().out
    assert ("workspace", 0, 128 << 20) in fake.calls


def test_build_refusal_exits_2(tiny, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(tensorrt_import, "import_tensorrt",
                        lambda *_: FakeTensorRT("11.4.0.106"))
    code = commands.main(["engine", "build", str(tiny.onnx), "--out",
                          str(tmp_path / "m.plan")])
    assert code == 2 and "mestream export" in capsys.readouterr().err


def test_build_into_a_cache_needs_a_gpu(tiny, tmp_path, monkeypatch, capsys) -> None:
    import engines.device
    monkeypatch.setattr(tensorrt_import, "import_tensorrt",
                        lambda *_: FakeTensorRT("10.13.3.9"))
    monkeypatch.setattr(engines.device, "first_gpu", lambda: None)
    code = commands.main(["engine", "build", str(tiny.onnx), "--cache-dir",
                          str(tmp_path / "c")])
    assert code == 2 and "no NVIDIA GPU" in capsys.readouterr().err


def test_info_on_onnx_and_program(tiny, capsys) -> None:
    assert commands.main(["engine", "info", str(tiny.onnx_fp16)]) == 0
    out = capsys.readouterr().out
    assert "backend: onnxruntime" in out and "precision: fp16" in out
    assert "  face float16[N,1,18,32,32]" in out and "  logits float16[N,3]" in out
    assert '  mestream.labels: ["negative", "positive", "surprise"]' in out
    assert commands.main(["engine", "info", str(tiny.program)]) == 0
    out = capsys.readouterr().out
    assert "backend: torch" in out and "max batch: 4096" in out
    assert "mestream.arch: stcnn" in out


def test_info_on_a_plan_without_tensorrt(tiny, tmp_path, no_tensorrt, capsys) -> None:
    (tmp_path / "m.plan").write_bytes(b"x")
    assert commands.main(["engine", "info", str(tmp_path / "m.plan")]) == 2
    assert "tensorrt is not installed" in capsys.readouterr().err


def test_bench(tiny, capsys) -> None:
    code = commands.main(["engine", "bench", str(tiny.onnx), "--backend", "onnxruntime",
                          "--batch", "1,2", "--repeats", "2", "--warmup", "1"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("| backend | precision | device | batch |")
    assert "| onnxruntime | fp32 | cpu | 1 |" in out and "| onnxruntime | fp32 | cpu | 2 |" in out
    code = commands.main(["engine", "bench", str(tiny.onnx), "--backend", "onnxruntime",
                          "--batch", "3", "--repeats", "1", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and rows[0]["batch"] == 3 and rows[0]["clips_per_s"] > 0


def test_bench_batch_list_is_checked(tiny) -> None:
    with pytest.raises(SystemExit):
        commands.main(["engine", "bench", str(tiny.onnx), "--batch", "1,x"])
    with pytest.raises(SystemExit):
        commands.main(["engine", "bench", str(tiny.onnx), "--batch", "0"])
