"""A stand-in for the ``tensorrt`` module: enough of the builder and runtime API for
engines.build and engines.tensorrt_engine, recording what they ask for. The runtime
side "executes" a plan with numpy, reading and writing :class:`FakeCudaMemory`.

TensorRT 11 is modelled as the bindings show it: no ``BuilderFlag.FP16``, and a
deprecated ``STRONGLY_TYPED`` network flag.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np


class FakeBuilderFlag(enum.IntEnum):
    FP16 = 0
    TF32 = 1


class FakeBuilderFlag11(enum.IntEnum):      # 11.x: FP16 is gone
    TF32 = 1


class FakeNetworkFlag(enum.IntEnum):
    STRONGLY_TYPED = 1


class FakeMemoryPool(enum.IntEnum):
    WORKSPACE = 0


class FakeIOMode(enum.IntEnum):
    INPUT = 1
    OUTPUT = 2


class FakeDataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1


NPTYPES = {FakeDataType.FLOAT: np.float32, FakeDataType.HALF: np.float16}


class FakeTensorRT(SimpleNamespace):
    """``FakeTensorRT("10.13.3.9")``; ``.calls`` lists what the code under test did."""

    def __init__(self, version: str, parse_ok: bool = True, build_ok: bool = True):
        major = int(version.split(".")[0])
        calls: list[tuple] = []
        self_ref = self

        class Logger:
            WARNING = 2

            def __init__(self, severity: int = 2):
                calls.append(("Logger", severity))

        class Profile:
            def __init__(self) -> None:
                self.shapes: dict[str, tuple] = {}

            def set_shape(self, name, mn, opt, mx):
                self.shapes[name] = (tuple(mn), tuple(opt), tuple(mx))
                calls.append(("set_shape", name, tuple(mn), tuple(opt), tuple(mx)))

        class TimingCache:
            def __init__(self, data: bytes):
                self.data = bytes(data)

            def serialize(self) -> bytes:
                return self.data + b"+tuned"

        class Config:
            def __init__(self) -> None:
                self.flags: set = set()
                self.profiles: list[Profile] = []
                self.cache: TimingCache | None = None

            def set_memory_pool_limit(self, pool, size):
                calls.append(("workspace", pool, size))

            def set_flag(self, flag):
                self.flags.add(flag)
                calls.append(("set_flag", flag))

            def add_optimization_profile(self, profile):
                self.profiles.append(profile)

            def create_timing_cache(self, data):
                calls.append(("create_timing_cache", bytes(data)))
                return TimingCache(data)

            def set_timing_cache(self, cache, ignore_mismatch):
                calls.append(("set_timing_cache", ignore_mismatch))
                self.cache = cache

            def get_timing_cache(self):
                return self.cache

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags=0):
                calls.append(("create_network", flags))
                return SimpleNamespace(flags=flags)

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                calls.append(("build", network.flags, sorted(config.flags)))
                if not build_ok:
                    return None
                plan = {"profiles": [p.shapes for p in config.profiles],
                        "fp16_flag": any(f.name == "FP16" for f in config.flags)}
                return json.dumps(plan).encode()

        class OnnxParser:
            num_errors = 0 if parse_ok else 1

            def __init__(self, network, logger):
                pass

            def parse_from_file(self, path):
                calls.append(("parse", path))
                return parse_ok

            def get_error(self, i):
                return "In node 3 (Conv): unsupported 4D kernel"

        super().__init__(
            __version__=version, calls=calls, Logger=Logger, Builder=Builder,
            OnnxParser=OnnxParser, MemoryPoolType=FakeMemoryPool,
            BuilderFlag=FakeBuilderFlag if major < 11 else FakeBuilderFlag11,
            NetworkDefinitionCreationFlag=FakeNetworkFlag, TensorIOMode=FakeIOMode,
            DataType=FakeDataType, nptype=lambda t: NPTYPES[t],
            Runtime=lambda logger: FakeRuntime(self_ref))
        self.engines: dict[bytes, FakeCudaEngine] = {}
        self.any_plan: FakeCudaEngine | None = None
        self.deserialized = 0

    def add_engine(self, plan: bytes, engine: FakeCudaEngine) -> None:
        """What ``deserialize_cuda_engine(plan)`` returns (else ``any_plan``, which is
        ``None`` unless set: TensorRT's answer to a plan it cannot load)."""
        self.engines[plan] = engine


class FakeRuntime:
    def __init__(self, trt: FakeTensorRT):
        self.trt = trt

    def deserialize_cuda_engine(self, plan: bytes):
        self.trt.deserialized += 1
        return self.trt.engines.get(bytes(plan), self.trt.any_plan)


class FakeCudaEngine:
    """An engine whose IO is ``tensors`` (name -> (mode, dtype, shape with -1,
    profile max shape or None)) and whose computation is ``fn(inputs) -> outputs``;
    output shapes are ``out_shape(name, input_shapes)``."""

    def __init__(self, tensors: dict[str, tuple], fn: Callable[[dict], dict],
                 out_shape: Callable[[str, dict], tuple]):
        self.tensors, self.fn, self.out_shape = tensors, fn, out_shape
        self.memory: FakeCudaMemory | None = None
        self.contexts: list[FakeContext] = []

    @property
    def num_io_tensors(self) -> int:
        return len(self.tensors)

    def get_tensor_name(self, i: int) -> str:
        return list(self.tensors)[i]

    def get_tensor_mode(self, name: str) -> FakeIOMode:
        return self.tensors[name][0]

    def get_tensor_dtype(self, name: str) -> FakeDataType:
        return self.tensors[name][1]

    def get_tensor_shape(self, name: str) -> tuple:
        return self.tensors[name][2]

    def get_tensor_profile_shape(self, name: str, profile: int) -> tuple:
        mx = self.tensors[name][3]
        return ((1, *mx[1:]), mx, mx)

    def create_execution_context(self) -> FakeContext:
        ctx = FakeContext(self)
        self.contexts.append(ctx)
        return ctx


class FakeContext:
    def __init__(self, engine: FakeCudaEngine):
        self.engine = engine
        self.shapes: dict[str, tuple] = {}
        self.addresses: dict[str, int] = {}
        self.address_calls = 0
        self.executions: list[int] = []

    def set_input_shape(self, name: str, shape) -> bool:
        self.shapes[name] = tuple(shape)
        return True

    def get_tensor_shape(self, name: str) -> tuple:
        if self.engine.get_tensor_mode(name) == FakeIOMode.INPUT:
            return self.shapes[name]
        return self.engine.out_shape(name, self.shapes)

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.addresses[name] = ptr
        self.address_calls += 1
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        mem = self.engine.memory
        self.executions.append(stream_handle)
        inputs = {}
        for name, (mode, dtype, _, _) in self.engine.tensors.items():
            if mode == FakeIOMode.INPUT:
                shape = self.shapes[name]
                inputs[name] = mem.read(self.addresses[name], shape, NPTYPES[dtype])
        for name, value in self.engine.fn(inputs).items():
            dtype = NPTYPES[self.engine.tensors[name][1]]
            mem.write(self.addresses[name], np.asarray(value, dtype=dtype))
        return True


class FakeCudaMemory:
    """:class:`engines.cuda_memory.CudaMemory` in host memory: "device" pointers index
    byte arrays; copies happen at once (the stream is a no-op)."""

    name = "fake"

    def __init__(self) -> None:
        self.device: dict[int, bytearray] = {}
        self.pinned: list[np.ndarray] = []
        self.copies: list[tuple[str, int, int]] = []
        self.syncs = 0
        self.released = False
        self._next = 0x1000

    def pinned_empty(self, shape, dtype) -> np.ndarray:
        arr = np.empty(shape, dtype)
        self.pinned.append(arr)
        return arr

    def device_alloc(self, nbytes: int) -> int:
        ptr = self._next
        self._next += 0x100000
        self.device[ptr] = bytearray(nbytes)
        return ptr

    def create_stream(self) -> Any:
        return SimpleNamespace(handle=77)

    def stream_handle(self, stream) -> int:
        return stream.handle

    def copy_to_device(self, ptr: int, host: np.ndarray, stream) -> None:
        assert host.flags.c_contiguous
        self.device[ptr][:host.nbytes] = host.tobytes()
        self.copies.append(("htod", ptr, host.nbytes))

    def copy_to_host(self, host: np.ndarray, ptr: int, stream) -> None:
        host[...] = np.frombuffer(bytes(self.device[ptr][:host.nbytes]),
                                  host.dtype).reshape(host.shape)
        self.copies.append(("dtoh", ptr, host.nbytes))

    def synchronize(self, stream) -> None:
        self.syncs += 1

    def release(self) -> None:
        self.released = True

    def read(self, ptr: int, shape: tuple, dtype) -> np.ndarray:
        n = math.prod(shape) * np.dtype(dtype).itemsize
        return np.frombuffer(bytes(self.device[ptr][:n]), dtype).reshape(shape)

    def write(self, ptr: int, value: np.ndarray) -> None:
        self.device[ptr][:value.nbytes] = value.tobytes()
