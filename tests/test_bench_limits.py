"""The speed benchmark's honesty checks (benchmarks/limit.py, benchmarks/speed.py): a
share above the machine's limit stops the run, contenders with unequal CPU per
wall-second stop it, the theoretical peak follows the CPU's flags, the clean sgemm
subprocess really runs without OPENBLAS_CORETYPE, and the goal lines read the rows."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import limit  # noqa: E402
import speed  # noqa: E402


def test_a_share_above_the_limit_stops_the_benchmark():
    measured = limit.Limit({"numpy sgemm": 50.0, "theoretical FMA peak": 100.0}, {})
    assert measured.gflops == 100.0 and measured.source == "theoretical FMA peak"
    assert measured.share(99.0, "x") == "99 %"
    with pytest.raises(SystemExit, match="above 100 %"):
        measured.share(101.0, "ptb train ours fused")


@pytest.mark.parametrize("cpu,lanes", [
    ({"vendor": "GenuineIntel", "family": 6, "model": 207, "flags": {"avx512f", "avx2", "fma"}}, 16),
    ({"vendor": "GenuineIntel", "family": 6, "model": 63, "flags": {"avx2", "fma"}}, 8),
    ({"vendor": "AuthenticAMD", "family": 23, "model": 1, "flags": {"avx2", "fma"}}, 4),
    ({"vendor": "AuthenticAMD", "family": 23, "model": 0x31, "flags": {"avx2", "fma"}}, 8),
])
def test_the_theoretical_peak_follows_the_vector_width(cpu, lanes):
    cpu = dict(cpu, mhz=2000.0)
    gflops, how = limit.theoretical(2, cpu)
    assert gflops == lanes * 2 * 2 * 2.0 * 2 and f"{lanes} lanes" in how


def test_the_clean_sgemm_runs_without_the_slowing_variables(monkeypatch):
    pytest.importorskip("threadpoolctl")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1")
    clean = limit.sgemm(1, calls=1)
    forced = limit.sgemm(1, coretype="Prescott", calls=1)
    assert clean["threads"] == 1 and clean["gflops"] > 0
    assert forced["kernel"].lower() == "prescott"
    if clean["kernel"].lower() != "prescott":  # autodetection found a better kernel
        assert clean["gflops"] > forced["gflops"]


def test_unequal_cpu_per_wall_second_stops_the_run():
    speed.check_equal_cpu({"a": (1.0, 0.99), "b": (2.0, 0.95)}, "ok")  # 4 % apart
    with pytest.raises(SystemExit, match="unequal CPU"):
        speed.check_equal_cpu({"ours fused": (1.0, 0.99), "PyTorch": (1.0, 0.5)}, "ptb")


def test_goal_lines_read_the_measured_rows():
    seconds = {("ptb", "B=20", "train", "ours fused"): 1.0,
               ("ptb", "B=20", "train", "PyTorch nn.LSTM"): 0.9,
               ("ptb", "B=20", "train", "ours unfused"): 1.25,
               ("ptb", "B=20", "infer", "ours fused"): 1.0,
               ("ptb", "B=20", "infer", "ours unfused"): 1.1,
               ("ptb", "B=1 inference", "infer", "ours unfused"): 9.0}
    lines = speed.goals(seconds, "lstm")
    assert lines[0].startswith("- fused training >= 1.0x PyTorch: **not met**") and "0.90x" in lines[0]
    assert "**met** (ptb 0.80x)" in lines[1]
    assert "**met** (ptb 0.91x)" in lines[2]
