"""``mestream bench``: run the benchmarks, print one table, rewrite BENCHMARKS.md.

Each benchmark lives in :mod:`bench` (one module each) and returns rows
``(benchmark, result, statistic, target)``; this runner measures the machine's FP32
peak first (the classifier rows are read against it), calls them in order and writes
the table. Figures compared with each other (a ZeroMQ hop against a memcpy, a tuned
classifier against ONNX Runtime out of the box, FP16 against FP32) are measured side by
side in the same run. Rows whose target is a verdict start with ``TARGET``.

Sections, in order: machine (peak), transport (wire, hop vs memcpy, capture -> publish),
alignment, synthetic source, streams (``bench.streams``, when present),
the learned spotter's engine call, classifier, GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.machine import describe_machine, gemm_peak

# BENCHMARKS.md may end with a hand-kept section of figures other commands produce
# (training, spotting quality, the demo), each with its command; a rerun keeps it.
KEPT_SECTION = "## Figures measured by other commands"
SECTIONS = ("machine", "transport", "alignment", "synth", "streams", "spotting", "classifier",
            "gpu")
# Long jobs run only when named (`mestream bench --only fuzz,soak`): 100,000 fuzz cases
# per target and a 30-minute soak take over an hour here; their figures go to the kept
# section of BENCHMARKS.md (issue 9) rather than into every `make bench`.
OPT_IN_SECTIONS = ("fuzz", "soak")
Row = tuple[str, str, str, str]

NOTES = [
    "Transport: the hop pushes 640x480x3 frame messages (pipeline.runtime.wire, zero-copy send)",
    "from a child process and pulls and decodes them here, with the pipeline's socket",
    "settings; per frame = elapsed / frames while streaming. The memcpy is one",
    "numpy.copyto of the same bytes in process; the shared-memory rows time the",
    "pipeline's own transport on one host (pipeline/runtime/frame_ring.py: frames in a ring,",
    "ZeroMQ carries their places). Capture -> publish rows count every frame",
    "record a subscriber receives from a real `mestream run` (one capture process, one",
    "publish process and the supervisor) from its first record to its last; frames are",
    "generated, not decoded.",
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
    "Classifier rows (bench/classifier.py) time each variant in turn on",
    "the same random batch, rounds interleaved, so load from other jobs hits all alike;",
    "GFLOP/s counts the plain graph's Conv/Gemm work (bench/engines/flops.py, 2 FLOP a MAC)",
    "and % of peak is against the GEMM row above. STCNN T=18 is the bundled model",
    "(trained on synthetic data); the other models have random weights (speed does not",
    "depend on them). 'Unfolded' is the graph rewrite of bench/engines/conv3d_unfold.py",
    "(Conv3d over one channel as a 2-D conv over 15 stacked frames, cropped to what the",
    "pool reads; same answers; sessions without spin-waiting); INT8 is that graph",
    "statically quantised, the clip quantised before the unfold",
    "(bench/engines/quantize.py, calibrated on random clips): its argmax agreement is measured",
    "on random clips, not accuracy on labelled faces. TensorRT figures need a GPU",
    "(`mestream engine bench MODEL --backend tensorrt` on one). Spotting quality is not",
    "in this table: see pipeline/spotting/README.md.",
]


def _streams_rows(quick: bool) -> list[Row]:
    """``bench.streams`` when it can be imported (a broken or missing module is a row of
    the table, not the end of the run)."""
    try:
        from bench.streams import stream_rows
    except ModuleNotFoundError as exc:
        if exc.name != "bench.streams":
            raise                        # a real error inside the module surfaces
        return [("streams sustained, latency p50/p99, per-stage profile",
                 "not measured: bench/streams.py is missing", "-", "-")]
    return stream_rows(quick)


def _streams_notes() -> list[str]:
    """How the streams rows were measured (kept beside the rows they explain)."""
    try:
        from bench.streams import NOTES
    except ModuleNotFoundError:
        return []
    return list(NOTES)


def _section(name: str, quick: bool, grid_dir: Path | None, peak: float,
             classifier_models: Sequence[str] | None) -> list[Row]:
    if name == "transport":
        from bench.transport import transport_rows
        return transport_rows(quick)
    if name == "alignment":
        from bench.alignment import alignment_rows
        return alignment_rows(quick, grid_dir)
    if name == "synth":
        from bench.synth_source import synth_rows
        return synth_rows(quick)
    if name == "streams":
        return _streams_rows(quick)
    if name == "spotting":
        from bench.spotting import spotting_rows
        return spotting_rows(quick)
    if name == "classifier":
        from bench.classifier import classifier_rows
        return classifier_rows(quick, peak, names=None if classifier_models is None
                               else list(classifier_models))
    if name == "gpu":
        from bench.gpu import gpu_rows
        return gpu_rows(quick)
    if name == "fuzz":
        from bench.fuzz import fuzz_rows
        return fuzz_rows(quick)
    if name == "soak":
        from bench.soak import soak_rows
        return soak_rows(quick)
    raise ValueError(f"unknown benchmark section {name!r}; expected one of "
                     f"{SECTIONS + OPT_IN_SECTIONS}")


def run_benchmarks(out: Path, quick: bool = False, grid_dir: Path | None = None,
                   only: Sequence[str] | None = None,
                   classifier_models: Sequence[str] | None = None,
                   log: Callable[[str], None] = print) -> int:
    """Measure the ``only`` sections (default: all), print the table, write ``out``.

    ``classifier_models`` limits the classifier section (names of
    ``bench.classifier.MODELS``; the tests pass the small bundled one).
    """
    sections = list(SECTIONS if only is None else only)
    for name in sections:
        if name not in SECTIONS + OPT_IN_SECTIONS:
            raise ValueError(f"unknown benchmark section {name!r}; expected one of "
                             f"{SECTIONS + OPT_IN_SECTIONS}")
    started = time.monotonic()
    size = 1024 if quick else 2048
    peak = gemm_peak(size=size, repeats=3 if quick else 7)
    rows: list[Row] = [(f"CPU FP32 peak: {size}x{size} GEMM, all cores (numpy "
                        f"{peak['numpy_gflops']:.0f}, ONNX Runtime {peak['ort_gflops']:.0f})",
                        f"{peak['gflops']:.0f} GFLOP/s", "median, the better of the two",
                        "the classifier rows' roofline")]
    for name in sections:
        if name == "machine":
            continue
        t = time.monotonic()
        rows += _section(name, quick, grid_dir, peak["gflops"], classifier_models)
        log(f"[bench] {name}: {time.monotonic() - t:.0f} s")
    header = ("benchmark", "result", "statistic", "target")
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    log("\n".join(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                  for r in table))
    command = "mestream bench" + (" --quick" if quick else "")
    if only is not None or classifier_models is not None:
        command += f" (sections: {', '.join(sections)}"
        command += f"; classifier models: {', '.join(classifier_models)})" \
            if classifier_models is not None else ")"
    md = [
        "# Benchmarks",
        "",
        f"Machine: {describe_machine()}.",
        f"Command: `{command}` (`make bench`), {time.strftime('%Y-%m-%d')}, "
        f"{(time.monotonic() - started) / 60:.1f} min.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * 4,
        *["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows],
        "",
        *NOTES,
        *(_streams_notes() if "streams" in sections else []),
        "",
    ]
    old = out.read_text() if out.exists() else ""
    kept = old[old.index(KEPT_SECTION):] if KEPT_SECTION in old else ""
    out.write_text("\n".join(md) + ("\n" + kept if kept else ""))
    log(f"\nwrote {out}")
    return 0
