"""``mestream bench``'s runner on tiny settings: every row it promises is in the table
with its target, and ratios are computed from the values measured beside them in the
same run (figures themselves are not asserted: performance is measured in benchmarks,
not in timed tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.run import KEPT_SECTION, run_benchmarks
from bench.transport import bench_zmq_hop


def table(text: str) -> dict[str, tuple[str, str, str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| benchmark |"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0]] = tuple(cells[1:])
    return rows


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def bench_md(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("bench") / "BENCHMARKS.md"
    out.write_text(f"# old\n\n{KEPT_SECTION}\n\n| kept | row |\n")
    run_benchmarks(out, quick=True,
                   only=["machine", "transport", "spotting", "classifier", "gpu"],
                   classifier_models=["stcnn_t18"], log=lambda _: None)
    return out.read_text()


def test_header_and_kept_section(bench_md: str) -> None:
    assert "Machine:" in bench_md and "mestream bench --quick" in bench_md
    assert "# old" not in bench_md and "| kept | row |" in bench_md


def test_transport_rows_and_hop_ratio_from_the_same_run(bench_md: str) -> None:
    rows = table(bench_md)
    assert rows["wire encode+decode, 640x480x3 frame"][2].startswith("< 100 us")
    assert sum(k.startswith("capture -> publish") for k in rows) == 2
    memcpy = next(v for k, v in rows.items() if k.startswith("memcpy of one 640x480x3"))
    copy_us = number(r"^([\d.]+) us", memcpy[0])
    hops = {k: v for k, v in rows.items() if k.startswith("one ZeroMQ hop")}
    assert len(hops) == 2 and any("ipc" in k for k in hops) and any("tcp" in k for k in hops)
    for result, _, target in hops.values():
        assert target == "<= 2x the memcpy"
        hop_us, ratio = number(r"^([\d.]+) us", result), number(r"= ([\d.]+)x", result)
        assert ratio == pytest.approx(hop_us / copy_us, rel=0.02, abs=0.06)
    rings = [v for k, v in rows.items() if k.startswith("one hop as the pipeline makes it")]
    assert len(rings) == 2  # a copy into the slot, and decoded in place
    for result, _, target in rings:
        assert target == "<= 2x the memcpy"
        assert number(r"= ([\d.]+)x", result) == pytest.approx(
            number(r"^([\d.]+) us", result) / copy_us, rel=0.02, abs=0.06)


def test_classifier_rows_against_peak_and_out_of_the_box(bench_md: str) -> None:
    rows = table(bench_md)
    peak = number(r"^([\d.]+) GFLOP/s", next(v for k, v in rows.items()
                                              if k.startswith("CPU FP32 peak"))[0])
    label = "classify STCNN T=18 64x64 (bundled, trained on synthetic data)"
    for batch in (1, 8):
        base = rows[f"{label}, ORT out of the box, batch {batch}"]
        assert base[2] == "reference"
        base_ms = number(r"([\d.]+) ms a batch", base[0])
        for variant in ("ORT unfolded FP32", "ORT unfolded INT8", "torch FP32 CPU"):
            result = rows[f"{label}, {variant}, batch {batch}"][0]
            ms = number(r"([\d.]+) ms a batch", result)
            rate = number(r"^([\d.]+) clips/s", result)
            # Each figure is printed from the unrounded median: bound what the rounded
            # ones allow (ms to 0.05 either way) instead of a fixed tolerance, which a
            # variant fast enough (0.4 ms a batch) overran on rounding alone.
            low, high = max(ms - 0.05, 1e-3), ms + 0.05
            assert batch / high * 1e3 - 0.05 <= rate <= batch / low * 1e3 + 0.05
            ratio = number(r"x([\d.]+) out of the box", result)
            assert (base_ms - 0.05) / high - 0.005 <= ratio <= (base_ms + 0.05) / low + 0.005
            gflops = number(r"([\d.]+) GFLOP/s", result)
            pct = 100 * gflops / peak      # both printed rounded: allow for it
            assert number(r"= (\d+)% of peak", result) == pytest.approx(
                pct, abs=0.6 + pct * (0.5 / peak + 0.05 / max(gflops, 0.05)))
    answers = rows[f"{label}: work and answers vs out of the box"][0]
    assert "0.136 GFLOP a clip" in answers
    assert "ORT unfolded FP32: argmax agrees on 100%" in answers
    (check,) = [v for k, v in rows.items() if k.startswith("INT8 accuracy check")]
    assert check[2] == "INT8 within 0.5 points of FP32"
    assert check[0].startswith(("FP32 ", "not measured: "))


def test_learned_spotter_rows_cost_per_face_from_the_call_time(bench_md: str) -> None:
    rows = {k: v for k, v in table(bench_md).items()
            if k.startswith("learned spotter engine call (bundled")}
    assert len(rows) == 3
    for key, (result, statistic, _) in rows.items():
        batch = number(r"\), (\d+) stream-tick", key)
        ms = number(r"^([\d.]+) ms", result)
        pct = number(r"= ([\d.]+) % of a core per face at 25 ticks/s", result)
        assert pct == pytest.approx(ms / batch * 25 / 10, rel=0.02, abs=0.01)
        assert statistic.startswith("median of")


def test_gpu_row_is_there_with_its_target(bench_md: str) -> None:
    gpu = {k: v for k, v in table(bench_md).items() if k.startswith(("GPU", "TARGET GPU"))}
    assert gpu and all("3x" in target for _, _, target in gpu.values())
    from engines.device import first_gpu

    if first_gpu() is None:
        (result, _, _), = gpu.values()
        assert result.startswith("not measured: no GPU (command to run it:")


def test_zmq_hop_counts_every_frame() -> None:
    hop = bench_zmq_hop("ipc", frames=30, warmup=3)
    assert hop["frames"] == 30 and hop["per_frame_us"] > 0


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown benchmark section 'gpus'"):
        run_benchmarks(tmp_path / "B.md", quick=True, only=["gpus"])


def test_missing_streams_module_is_a_row_not_a_crash(monkeypatch) -> None:
    import sys

    from bench.run import _streams_rows

    monkeypatch.setitem(sys.modules, "bench.streams", None)  # not importable
    (row,) = _streams_rows(quick=True)
    assert row[1] == "not measured: bench/streams.py is missing"
