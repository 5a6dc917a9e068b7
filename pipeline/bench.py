"""``mestream bench``: measure, print a table, rewrite BENCHMARKS.md.

What is measured so far (the runtime foundation):
1. wire: encode + decode of one 640x480 BGR frame message, in process (median of many).
2. transport: frames/s through a real ``mestream run`` (capture -> publish, separate
   processes, ipc sockets) with 1 and 4 unpaced 640x480 test-pattern streams, counted
   by a subscriber; median of several runs.
3. alignment (``pipeline.faces.measure``): jitter of the aligned landmarks on a still
   face with sensor noise and on talking faces (GRID), and frames/s of one align worker
   at 360x288 and 640x480, with landmark tracking between detections and without.
Later issues add spotting, classification, streams-per-machine and latency.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from pipeline import wire
from pipeline.client import EventSubscriber

# BENCHMARKS.md may end with a hand-kept section of figures other commands produce
# (training, spotting quality, the demo), each with its command; a rerun keeps it.
KEPT_SECTION = "## Figures measured by other commands"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def bench_wire(repeats: int) -> dict[str, float]:
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    msg = wire.Message(wire.FRAME, "cam0", 1, 0, {"image": image})
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        wire.decode(wire.encode(msg))
        times.append(time.perf_counter() - t)
    return {"median_us": statistics.median(times) * 1e6}


def bench_transport(streams: int, frames: int, runs: int) -> dict[str, float]:
    rates = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            port = _free_port()
            cfg = {
                "version": 1, "name": "bench",
                "sources": {f"s{i}": {"type": "testpattern", "frames": frames,
                                      "realtime": False} for i in range(streams)},
                "stages": {"capture": {"type": "capture"},
                           "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                                       "wait_subscribers": 1}},
                "transport": {"ipc_dir": f"{tmp}/run"},
                "logging": {"level": "WARNING"},
                "metrics": {"log_interval_s": 0},
            }
            path = Path(tmp) / "bench.yaml"
            path.write_text(yaml.safe_dump(cfg))
            with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=120) as sub:
                proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(path)],
                                        stderr=subprocess.DEVNULL)
                count, t0 = 0, None
                for record in sub.until_end(list(cfg["sources"])):
                    if record["type"] == "frame_record":
                        t0 = t0 or time.perf_counter()
                        count += 1
                elapsed = time.perf_counter() - t0 if t0 else float("nan")
                proc.wait(timeout=60)
            rates.append((count - 1) / elapsed)
    return {"fps": statistics.median(rates), "runs": runs}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alignment_rows(quick: bool, grid_dir: Path | None) -> list[tuple[str, str, str, str]]:
    from pipeline.faces import measure

    rows = []
    seconds = 4.0 if quick else 10.0
    j = measure.still_jitter(seconds=seconds)
    rows.append((f"align jitter, still face + noise sigma 3, {seconds:.0f} s at 25 fps, 128 px",
                 f"{j['one_euro_stable']:.3f} px stable points, {j['one_euro_mesh']:.3f} px "
                 f"all 468 (no smoothing: {j['none_stable']:.3f} / {j['none_mesh']:.3f})",
                 "temporal std, mean over points", "< 0.2 px"))
    rows.append(("align transform jitter, same still face: fixed image points in the "
                 "aligned face", f"{j['one_euro_transform']:.3f} px (no smoothing: "
                 f"{j['none_transform']:.3f} px, "
                 f"x{j['none_transform'] / j['one_euro_transform']:.1f})",
                 "temporal std, mean over points", "well under 1 px (ME motion: 1-3 px)"))
    clips = sorted(grid_dir.glob("*.mpg")) if grid_dir else []
    clips = clips or [measure.MEDIA / "grid_bbaf2n.mpg"]
    if quick:
        clips = clips[:1]
    t = measure.talking_eye_corner_jitter(clips)
    rows.append((f"align jitter, eye corners of {len(clips)} talking GRID face(s), 128 px",
                 f"{t['one_euro']:.3f} px (no smoothing: {t['none']:.3f} px)",
                 "median over clips", "(head moves too: an upper bound)"))
    clip = measure.MEDIA / "grid_bbaf2n.mpg"
    for size in ((360, 288), (640, 480)):
        frames = measure.grid_frames(clip, None if size == (360, 288) else size)
        for every in (5, 1):
            fps = measure.worker_fps(frames, every, repeats=1 if quick else 3)
            how = ("detector every 5th frame, landmarks track between" if every == 5
                   else "detector on every frame")
            rows.append((f"align worker, {size[0]}x{size[1]}, {how}", f"{fps:.0f} frames/s",
                         "median of passes over 75 frames", ">= 25 frames/s per stream"))
    return rows


def synth_rows(quick: bool) -> list[tuple[str, str, str, str]]:
    from pipeline.synth.base_faces import DEFAULT_MEDIA
    from pipeline.synth.distractors import DistractorSpec
    from pipeline.synth.scene import SceneSpec
    from pipeline.synth.speed import measure_fps

    still, video = DEFAULT_MEDIA
    rows = []
    frames = 100 if quick else 300
    seeds = range(1 if quick else 3)
    for base, what, jpeg in ((still, "still face (astronaut)", None),
                             (video, "talking face (GRID clip)", None),
                             (video, "talking face, JPEG q85 re-encode", 85)):
        rates = [measure_fps(SceneSpec(seed=s, fps=30.0, width=640, height=480, faces=[base],
                                       distractors=DistractorSpec(jpeg_quality=jpeg)),
                             frames=frames) for s in seeds]
        fps = statistics.median(rates)
        rows.append((f"synthetic source, 640x480 at 30 fps, one core, {what}",
                     f"{fps:.0f} frames/s = {fps / 30:.1f} streams of 30 fps",
                     f"median of {len(rates)} seeds x {frames} frames", ">= 4 streams"))
    return rows


def engine_rows(quick: bool) -> list[tuple[str, str, str, str]]:
    """The bundled classifier on ONNX Runtime (CPU), batch 1..64."""
    from engines.benchmark import bench_engine
    from engines.onnxruntime_engine import OnnxRuntimeEngine

    model = Path(__file__).resolve().parent / "weights" / "stcnn_synth_casme2.onnx"
    engines = [OnnxRuntimeEngine(model)]
    try:  # the torch engine, where torch is installed (the test/train extras)
        from engines.torch_engine import TorchEngine

        engines.append(TorchEngine(model.with_suffix(".pt2"), device="cpu"))
    except Exception as exc:  # noqa: BLE001  (no torch: ONNX Runtime rows only)
        print(f"torch engine not measured: {exc}")
    sizes = [1, 8, 64] if quick else [1, 2, 4, 8, 16, 32, 64]
    rows = []
    for engine in engines:
        try:
            for r in bench_engine(engine, sizes, repeats=3 if quick else 10):
                if r.get("skipped"):
                    continue
                rows.append((f"classify engine: STCNN (T=18, 64x64) on {engine.backend} "
                             f"{engine.precision} {engine.device}, batch {r['batch']}",
                             f"{r['clips_per_s']:.0f} clips/s "
                             f"({r['median_ms']:.1f} ms a batch)",
                             "median", "batching pays while clips/s rises"))
        finally:
            engine.close()
    return rows


def run_benchmarks(out: Path, quick: bool = False, grid_dir: Path | None = None) -> int:
    frames, runs = (100, 1) if quick else (600, 3)
    rows = []
    w = bench_wire(200 if quick else 2000)
    rows.append(("wire encode+decode, 640x480x3 frame", f"{w['median_us']:.1f} us",
                 "median", "< 100 us (zero-copy: no per-pixel work)"))
    for n in (1, 4):
        t = bench_transport(n, frames, runs)
        mbps = t["fps"] * 640 * 480 * 3 / 1e6
        rows.append((f"capture -> publish, {n} unpaced 640x480 stream(s)",
                     f"{t['fps']:.0f} frames/s ({mbps:.0f} MB/s)", f"median of {runs}",
                     f">= {30 * 16} frames/s (16 streams x 30 fps)"))
    rows += alignment_rows(quick, grid_dir)
    rows += synth_rows(quick)
    rows += engine_rows(quick)
    header = ("benchmark", "result", "statistic", "target")
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    print("\n".join(lines))
    md = [
        "# Benchmarks",
        "",
        f"Machine: {_machine()}.",
        f"Command: `mestream bench{' --quick' if quick else ''}` "
        f"(`make bench`), {time.strftime('%Y-%m-%d')}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * 4,
        *["| " + " | ".join(r) + " |" for r in rows],
        "",
        "Transport runs count every frame record a subscriber receives from a real",
        "`mestream run` (one capture process, one publish process and the supervisor)",
        "from its first record to its last; frames are generated, not decoded.",
        "Alignment rows run one align worker in process (MediaPipe 0.10.21 BlazeFace +",
        "478-point mesh, one-euro smoothing of the rigid transform; no sockets); the",
        "still face is the bundled astronaut portrait (512 px resized to 480, padded to",
        "640x480) with fresh Gaussian noise every frame, the first second skipped while",
        "the filter settles. Jitter = mean over landmarks of sqrt(var x + var y) over",
        "time, in pixels of the 128 px aligned face. The aligned landmarks carry the",
        "landmark model's own noise (about 0.1-0.15 px here), which no transform can",
        "remove, and a per-frame fit (no smoothing) partly absorbs it into the transform;",
        "that is why smoothing looks worse on landmark jitter yet makes the aligned",
        "picture itself 4-5 times steadier (transform jitter row). On talking GRID faces",
        "the head also moves, so the eye-corner figure is an upper bound on jitter and",
        "the smoothed transform's lag behind real head motion counts against it.",
        "The synthetic-source rows render the generator's default scene (a bundled real",
        "face, AU deformations, blinks, head motion, sensor noise) on one OpenCV thread,",
        "without writing or sending it.",
        "Engine rows run the bundled STCNN (trained on synthetic data) on random inputs;",
        "TensorRT and torch-CUDA figures need a GPU (none here: `mestream engine bench",
        "MODEL --backend tensorrt` on one). Spotting quality is not in this table: see",
        "pipeline/spotting/README.md.",
        "",
    ]
    old = out.read_text() if out.exists() else ""
    kept = old[old.index(KEPT_SECTION):] if KEPT_SECTION in old else ""
    out.write_text("\n".join(md) + ("\n" + kept if kept else ""))
    print(f"\nwrote {out}")
    return 0
