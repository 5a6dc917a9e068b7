"""The engine cache: the key changes with everything a plan depends on, a plan is
returned only when its manifest matches exactly, and each key is built once. A fake
GPU and a fake builder stand in for the hardware."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from engines.cache import MANIFEST_NAME, BatchProfile, EngineCache, EngineKey
from engines.device import GpuInfo

H100 = GpuInfo(0, "NVIDIA H100 80GB HBM3", "9.0", "550.54.15")
PROFILE = BatchProfile(1, 16, 64)
TRT = "10.13.3.9"


class FakeBuilder:
    """Writes a plan whose bytes name the call, and records every call."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, onnx_path: Path, plan: Path, **options) -> Path:
        self.calls.append({"onnx": onnx_path, "plan": plan, **options})
        plan.write_bytes(f"plan #{len(self.calls)} of {onnx_path.name}".encode())
        return plan


@pytest.fixture
def onnx(tmp_path) -> Path:
    path = tmp_path / "stcnn.onnx"
    path.write_bytes(b"onnx graph v1")
    return path


@pytest.fixture
def builder() -> FakeBuilder:
    return FakeBuilder()


@pytest.fixture
def cache(tmp_path, builder) -> EngineCache:
    return EngineCache(tmp_path / "engines", builder=builder)


def test_key_changes_with_every_ingredient(cache, onnx, tmp_path) -> None:
    base = cache.key(onnx, H100, TRT, "fp16", PROFILE)
    other_onnx = tmp_path / "stcnn2.onnx"
    other_onnx.write_bytes(b"onnx graph v2")
    variants = {
        "onnx bytes": cache.key(other_onnx, H100, TRT, "fp16", PROFILE),
        "trt version": cache.key(onnx, H100, "10.13.3.10", "fp16", PROFILE),
        "gpu name": cache.key(onnx, replace(H100, name="NVIDIA H200"), TRT, "fp16", PROFILE),
        "compute capability": cache.key(onnx, replace(H100, compute_capability="8.9"), TRT,
                                        "fp16", PROFILE),
        "precision": cache.key(onnx, H100, TRT, "fp32", PROFILE),
        "profile min": cache.key(onnx, H100, TRT, "fp16", BatchProfile(2, 16, 64)),
        "profile opt": cache.key(onnx, H100, TRT, "fp16", BatchProfile(1, 8, 64)),
        "profile max": cache.key(onnx, H100, TRT, "fp16", BatchProfile(1, 16, 32)),
    }
    for what, key in variants.items():
        assert key != base, what
        assert key.digest() != base.digest(), what
        assert key.directory_name("stcnn") != base.directory_name("stcnn"), what
    # Same inputs, same key (bytes, not the file name, identify the model).
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(onnx.read_bytes())
    assert cache.key(copy, H100, TRT, "fp16", PROFILE) == base
    assert replace(H100, driver="999.0", index=3) != H100
    assert cache.key(onnx, replace(H100, driver="999.0", index=3), TRT, "fp16",
                     PROFILE) == base          # the driver and index do not matter


def test_directory_name_is_readable(cache, onnx) -> None:
    name = cache.key(onnx, H100, TRT, "fp16", PROFILE).directory_name("stcnn")
    assert name.startswith("stcnn-") and "-trt10.13.3.9-sm90-fp16-b1_16_64-" in name


def test_get_or_build_builds_once(cache, builder, onnx) -> None:
    first = cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE, workspace_mb=1024)
    second = cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE, workspace_mb=1024)
    assert first == second and first.is_file()
    assert len(builder.calls) == 1
    call = builder.calls[0]
    assert (call["precision"], call["min_batch"], call["opt_batch"], call["max_batch"]) == (
        "fp16", 1, 16, 64)
    assert call["workspace_mb"] == 1024
    assert call["timing_cache"] == cache.root / "timing-trt10.13.3.9-sm90.cache"
    assert cache.lookup(onnx, H100, TRT, "fp16", PROFILE) == first
    # Another key builds again, into its own directory.
    third = cache.get_or_build(onnx, H100, TRT, "fp32", PROFILE)
    assert third != first and len(builder.calls) == 2


def test_manifest_records_the_key_and_the_build(cache, onnx) -> None:
    plan = cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE, workspace_mb=512)
    manifest = json.loads((plan.parent / MANIFEST_NAME).read_text())
    key = manifest["key"]
    assert key["trt_version"] == TRT and key["gpu_name"] == H100.name
    assert key["compute_capability"] == "9.0" and key["precision"] == "fp16"
    assert key["profile"] == {"min": 1, "opt": 16, "max": 64}
    assert len(key["onnx_sha256"]) == 64
    assert manifest["gpu"]["driver"] == "550.54.15"
    assert manifest["builder_options"]["workspace_mb"] == 512
    assert manifest["build_seconds"] >= 0 and manifest["built_at"].endswith("+00:00")
    assert manifest["onnx_path"] == str(onnx.resolve())


def test_lookup_refuses_a_stale_manifest(cache, builder, onnx) -> None:
    plan = cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE)
    manifest_path = plan.parent / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["key"]["trt_version"] = "10.0.0.6"        # e.g. copied from another machine
    manifest_path.write_text(json.dumps(manifest))
    assert cache.lookup(onnx, H100, TRT, "fp16", PROFILE) is None
    rebuilt = cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE)
    assert len(builder.calls) == 2 and rebuilt.read_bytes().startswith(b"plan #2")
    assert cache.lookup(onnx, H100, TRT, "fp16", PROFILE) == rebuilt


def test_lookup_refuses_a_plan_without_manifest(cache, builder, onnx) -> None:
    plan = cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE)
    (plan.parent / MANIFEST_NAME).unlink()
    assert cache.lookup(onnx, H100, TRT, "fp16", PROFILE) is None
    cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE)
    assert len(builder.calls) == 2


def test_lookup_refuses_a_plan_whose_bytes_changed(cache, onnx) -> None:
    plan = cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE)
    plan.write_bytes(b"something else")
    assert cache.lookup(onnx, H100, TRT, "fp16", PROFILE) is None
    (plan.parent / MANIFEST_NAME).write_text("{not json")
    assert cache.lookup(onnx, H100, TRT, "fp16", PROFILE) is None


def test_a_changed_onnx_file_misses(cache, builder, onnx) -> None:
    cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE)
    onnx.write_bytes(b"onnx graph v1, retrained")
    assert cache.lookup(onnx, H100, TRT, "fp16", PROFILE) is None
    cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE)
    assert len(builder.calls) == 2


def test_a_failed_build_leaves_nothing_loadable(tmp_path, onnx) -> None:
    def broken(onnx_path: Path, plan: Path, **options) -> Path:
        plan.write_bytes(b"half a pl")
        raise RuntimeError("out of memory")

    cache = EngineCache(tmp_path / "engines", builder=broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE)
    assert cache.lookup(onnx, H100, TRT, "fp16", PROFILE) is None


def test_invalidate(cache, builder, onnx) -> None:
    cache.get_or_build(onnx, H100, TRT, "fp16", PROFILE)
    cache.invalidate(onnx, H100, TRT, "fp16", PROFILE)
    assert cache.lookup(onnx, H100, TRT, "fp16", PROFILE) is None


def test_profile_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="min <= opt <= max"):
        BatchProfile(16, 1, 64)
    with pytest.raises(ValueError):
        BatchProfile(0, 1, 1)


def test_key_is_json_stable() -> None:
    key = EngineKey("ab" * 32, TRT, H100.name, "9.0", "fp16", PROFILE)
    assert json.loads(json.dumps(key.as_dict()))["profile"] == {"min": 1, "opt": 16, "max": 64}
    assert key.digest() == EngineKey("ab" * 32, TRT, H100.name, "9.0", "fp16",
                                     BatchProfile(1, 16, 64)).digest()
