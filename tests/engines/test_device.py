"""GPU discovery without torch: nvidia-smi's CSV, CUDA_VISIBLE_DEVICES, and None when
there is no GPU."""

from __future__ import annotations

from engines import device
from engines.device import GpuInfo, parse_nvidia_smi

SMI = ("NVIDIA A10, 8.6, 550.54.15\n"
       "NVIDIA H100 80GB HBM3, 9.0, 550.54.15\n")


def test_parse() -> None:
    gpus = parse_nvidia_smi(SMI + "\n")
    assert gpus == [GpuInfo(0, "NVIDIA A10", "8.6", "550.54.15"),
                    GpuInfo(1, "NVIDIA H100 80GB HBM3", "9.0", "550.54.15")]
    assert gpus[1].sm == "90"
    assert parse_nvidia_smi("") == []


def test_cuda_visible_devices(monkeypatch) -> None:
    monkeypatch.setattr(device, "_from_nvidia_smi", lambda: parse_nvidia_smi(SMI))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert device.first_gpu().name == "NVIDIA A10"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert device.first_gpu().name == "NVIDIA H100 80GB HBM3"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device.first_gpu() is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert device.discover_gpus() == []


def test_no_gpu(monkeypatch) -> None:
    monkeypatch.setattr(device.shutil, "which", lambda name: None)
    monkeypatch.setattr(device, "_from_cuda_python", lambda: None)
    assert device.first_gpu() is None


def test_failing_nvidia_smi_is_no_gpu(monkeypatch) -> None:
    class Failed:
        returncode, stdout = 9, ""
    monkeypatch.setattr(device.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(device.subprocess, "run", lambda *a, **k: Failed())
    monkeypatch.setattr(device, "_from_cuda_python", lambda: None)
    assert device.discover_gpus() == []
