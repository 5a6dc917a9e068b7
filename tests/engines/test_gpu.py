"""Real TensorRT on a real GPU: build plans from the tiny exported STCNN, run them with
each installed CUDA binding, and compare with ONNX Runtime (FP32 within 1e-3, FP16
within 1e-2). Skipped without TensorRT or a GPU, i.e. everywhere in CI.

To verify on a machine with an NVIDIA GPU::

    pip install -e '.[test]' tensorrt-cu12 cuda-python     # pycuda too, to test both
    pytest -m gpu tests/engines -v                        # this file + CUDA-graph tests
    nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader

and, independently of mestream's code, NVIDIA's own comparison of the same ONNX file
(``pip install polygraphy``; STCNN's input is ``face`` (N, 1, T, S, S))::

    mestream export CHECKPOINT --out model.onnx                       # FP32 graph
    mestream export CHECKPOINT --out model_fp16.onnx --precision fp16
    S="face:[1,1,18,32,32]"; O="face:[16,1,18,32,32]"; M="face:[64,1,18,32,32]"
    SHAPES="--trt-min-shapes $S --trt-opt-shapes $O --trt-max-shapes $M --input-shapes $O"
    polygraphy run model.onnx --trt --onnxrt $SHAPES --atol 1e-3 --rtol 1e-3
    # TensorRT 10: FP16 from the FP32 graph with the builder flag (fails on 11: no flag)
    polygraphy run model.onnx --trt --onnxrt --fp16 $SHAPES --atol 1e-2 --rtol 1e-2
    # TensorRT 11: the FP16 graph, strongly typed
    polygraphy run model_fp16.onnx --trt --onnxrt --strongly-typed $SHAPES \\
        --atol 1e-2 --rtol 1e-2
    mestream engine build model.onnx --out engines/stcnn.plan   # 11: model_fp16.onnx
    mestream engine bench engines/stcnn.plan --batch 1,2,4,8,16,32,64
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from engines.device import first_gpu
from engines.errors import EngineInputError
from engines.onnxruntime_engine import OnnxRuntimeEngine
from tests.engines.conftest import clips

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def trt():
    trt = pytest.importorskip("tensorrt")
    if first_gpu() is None:
        pytest.skip("no NVIDIA GPU")
    return trt


def major(trt) -> int:
    return int(trt.__version__.split(".")[0])


def bindings() -> list[str]:
    found = [b for b, mod in (("pycuda", "pycuda"), ("cuda-python", "cuda"))
             if importlib.util.find_spec(mod) is not None]
    return found or ["none installed"]


@pytest.fixture(scope="module")
def reference(tiny):
    with OnnxRuntimeEngine(tiny.onnx) as engine:
        return {n: engine.infer({"face": clips(n, seed=n)})["logits"] for n in (1, 7, 64)}


@pytest.fixture(scope="module")
def plans(trt, tiny, tmp_path_factory):
    from engines.build import build_engine

    out = tmp_path_factory.mktemp("plans")
    fp16_source = tiny.onnx if major(trt) < 11 else tiny.onnx_fp16
    return {"fp32": build_engine(tiny.onnx, out / "fp32.plan", precision="fp32",
                                 min_batch=1, opt_batch=8, max_batch=64),
            "fp16": build_engine(fp16_source, out / "fp16.plan", precision="fp16",
                                 min_batch=1, opt_batch=8, max_batch=64)}


@pytest.mark.parametrize("binding", bindings())
@pytest.mark.parametrize("precision, tol", [("fp32", 1e-3), ("fp16", 1e-2)])
def test_tensorrt_matches_onnxruntime(plans, reference, binding, precision, tol) -> None:
    if binding == "none installed":
        pytest.skip("no CUDA Python binding (pip install cuda-python)")
    from engines.cuda_memory import open_cuda_memory
    from engines.tensorrt_engine import TensorRTEngine

    engine = TensorRTEngine(plans[precision], memory=open_cuda_memory(binding),
                            precision=precision)
    try:
        assert engine.max_batch == 64
        for n, ref in reference.items():
            got = engine.infer({"face": clips(n, seed=n)})["logits"]
            assert got.dtype == np.float32 and got.shape == ref.shape
            np.testing.assert_allclose(got, ref, atol=tol, rtol=tol)
        with pytest.raises(EngineInputError, match="max batch 64"):
            engine.infer({"face": clips(65)})
    finally:
        engine.close()


def test_open_engine_builds_once_and_reuses_the_plan(trt, tiny, tmp_path, reference) -> None:
    from engines.auto import open_engine

    source = tiny.onnx if major(trt) < 11 else tiny.onnx_fp16
    first = open_engine(source, cache_dir=tmp_path, max_batch=64)
    assert first.backend == "tensorrt" and first.precision == "fp16"
    plan_files = sorted(tmp_path.glob("*/model.plan"))
    stamp = plan_files[0].stat().st_mtime_ns
    first.close()
    second = open_engine(source, cache_dir=tmp_path, max_batch=64)
    assert sorted(tmp_path.glob("*/model.plan")) == plan_files
    assert plan_files[0].stat().st_mtime_ns == stamp            # not rebuilt
    got = second.infer({"face": clips(7, seed=7)})["logits"]
    np.testing.assert_allclose(got, reference[7], atol=1e-2, rtol=1e-2)
    second.close()


def test_tensorrt_11_refuses_fp16_from_an_fp32_graph(trt, tiny, tmp_path) -> None:
    if major(trt) < 11:
        pytest.skip("TensorRT 10 builds FP16 from an FP32 graph with its FP16 flag")
    from engines.build import build_engine

    with pytest.raises(ValueError, match="mestream export"):
        build_engine(tiny.onnx, tmp_path / "x.plan", precision="fp16")
