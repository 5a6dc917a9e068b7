"""`mestream bench --quick` runs end to end and writes its table (figures are not
asserted: performance is measured in benchmarks, not in timed tests)."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO, mestream


def test_bench_writes_a_table(tmp_path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# old\n\n## Figures measured by other commands\n\n| kept | row |\n")
    proc = subprocess.run(mestream("bench", "--quick", "--out", str(out)), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "Machine:" in text and "mestream bench --quick" in text
    assert "# old" not in text and "| kept | row |" in text  # the hand-kept section stays
    assert text.count("| capture -> publish") == 2 and "| wire encode+decode" in text
    assert "| align jitter, still face" in text and text.count("| align worker,") == 4
    assert text.count("| synthetic source, 640x480") == 3
    assert text.count("| classify engine: STCNN (T=18, 64x64) on onnxruntime") == 3
    assert text.count("| classify engine: STCNN (T=18, 64x64) on torch") == 3
