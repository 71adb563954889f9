"""The benchmarks' honesty checks: a share above the machine's limit stops the run, and
so do contenders with unequal CPU per wall-second (benchmarks/speed.py, batch1.py); the
limit's theoretical peak follows the CPU's vector width, its clean sgemm subprocess really
runs without OPENBLAS_CORETYPE, and the goal lines say met or not from the measured rows."""
import pytest

from gluon_seq.util.cpu import CpuInfo


@pytest.fixture(scope="module")
def limit(load_script):
    return load_script("benchmarks/limit.py")


def test_a_share_above_the_limit_stops_the_benchmark(limit):
    measured = limit.Limit({"numpy sgemm": 50.0, "FMA loop": 100.0}, {})
    assert measured.gflops == 100.0 and measured.source == "FMA loop"
    assert measured.share(99.0, "x") == "99 %"
    with pytest.raises(SystemExit, match="above 100 %"):
        measured.share(101.0, "ptb train ours fused")


def test_the_fma_loop_measures_the_vector_width_it_was_built_for(limit):
    """Built as the compiled operators are, then forced to SSE (4 lanes, no FMA): the
    native build must run well ahead wherever the CPU has AVX."""
    from gluon_seq.util.cpu import cpu_info

    if "avx" not in cpu_info().flags:
        pytest.skip("no vector unit wider than SSE to compare with")
    native = limit.fma_loop(1)
    sse = limit.fma_loop(1, ["-mno-avx", "-mno-avx2", "-mno-fma", "-mno-avx512f"])
    assert native > 1.5 * sse > 0, (native, sse)


def test_the_limit_is_the_best_measured_candidate(limit, monkeypatch):
    """The nominal clock's peak is a note, never a candidate: a turbo clock beats it."""
    monkeypatch.setattr(limit, "sgemm", lambda threads, coretype=None, calls=8: {
        "gflops": 90.0, "kernel": "Zen", "library": "openblas", "threads": threads})
    monkeypatch.setattr(limit, "torch_matmul", lambda threads: 95.0)
    monkeypatch.setattr(limit, "fma_loop", lambda threads: 110.0)
    measured = limit.measure(1)
    assert measured.gflops == 110.0 and measured.source == "FMA loop"
    assert "nominal clock" in measured.notes["FMA loop"]
    assert not any("theoretical" in name for name in measured.candidates)


@pytest.mark.parametrize("vendor,family,model,flags,lanes", [
    ("GenuineIntel", 6, 207, {"avx512f", "avx2", "fma"}, 16),
    ("GenuineIntel", 6, 63, {"avx2", "fma"}, 8),
    ("AuthenticAMD", 23, 1, {"avx2", "fma"}, 4),
    ("AuthenticAMD", 23, 0x31, {"avx2", "fma"}, 8),
])
def test_the_theoretical_peak_follows_the_vector_width(limit, vendor, family, model, flags,
                                                       lanes):
    cpu = CpuInfo(vendor=vendor, family=family, model_number=model, flags=frozenset(flags),
                  mhz=2000.0)
    gflops, how = limit.theoretical(2, cpu)
    assert gflops == lanes * 2 * 2 * 2.0 * 2 and f"{lanes} lanes" in how


def test_the_clean_sgemm_runs_without_the_slowing_variables(limit, monkeypatch):
    pytest.importorskip("threadpoolctl")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1")
    clean = limit.sgemm(1, calls=1)
    forced = limit.sgemm(1, coretype="Prescott", calls=1)
    assert clean["threads"] == 1 and clean["gflops"] > 0
    assert forced["kernel"].lower() == "prescott"
    if clean["kernel"].lower() != "prescott":  # autodetection found a better kernel
        assert clean["gflops"] > forced["gflops"]


def test_unequal_cpu_per_wall_second_stops_the_run(load_script, limit, monkeypatch):
    harness, speed = load_script("benchmarks/harness.py"), load_script("benchmarks/speed.py")
    harness.check_equal_cpu({"a": 0.99, "b": 0.95}, "ok")  # 4 % apart
    with pytest.raises(SystemExit, match="unequal CPU"):
        harness.check_equal_cpu({"ours fused": 0.99, "PyTorch": 0.5}, "ptb")
    # speed.py checks each shape, batch and mode it measures
    monkeypatch.setattr(speed, "mxnet_contender", lambda *args: (None, None))
    monkeypatch.setattr(speed, "race", lambda runs, rounds, seconds: {
        k: {"means": [1e-3], "cpu": 1.0 if k == "ours fused" else 0.5} for k in runs})
    with pytest.raises(SystemExit, match="arithmetic B=32 train: contenders used unequal CPU"):
        speed.shape_rows("arithmetic", "lstm", 1, False, limit.Limit({"peak": 1e6}, {}))


def test_goal_lines_read_the_measured_rows(load_script):
    seconds = {("ptb", "B=20", "train", "ours fused"): 1.0,
               ("ptb", "B=20", "train", "PyTorch nn.LSTM"): 0.9,
               ("ptb", "B=20", "train", "ours unfused"): 1.25,
               ("ptb", "B=20", "infer", "ours fused"): 1.0,
               ("ptb", "B=20", "infer", "PyTorch nn.LSTM"): 1.05,
               ("ptb", "B=20", "infer", "ours unfused"): 1.1,
               ("ptb", "B=1 inference", "infer", "ours unfused"): 9.0}
    lines = load_script("benchmarks/speed.py").goals(seconds, "lstm")
    assert lines[0].startswith("- fused training >= 1.0x PyTorch: **not met**") and "0.90x" in lines[0]
    assert lines[1] == "- fused inference >= 1.0x PyTorch: **met** (ptb 1.05x)."
    assert "**met** (ptb 0.80x)" in lines[2]
    assert "**met** (ptb 0.91x)" in lines[3]


def test_a_ratio_is_a_claim_only_when_two_runs_agree(load_script):
    speed = load_script("benchmarks/speed.py")
    first = {("ptb", "B=20", "train", "ours fused"): 1.0,
             ("ptb", "B=20", "train", "PyTorch nn.LSTM"): 1.0}
    close = {**first, ("ptb", "B=20", "train", "PyTorch nn.LSTM"): 1.08}
    far = {**first, ("ptb", "B=20", "train", "PyTorch nn.LSTM"): 1.25}
    assert speed.disagreements(first, close, "lstm") == {}
    differ = speed.disagreements(first, far, "lstm")
    key = ("ptb", "B=20", "train", "ours fused", "PyTorch nn.LSTM")
    assert differ == {key: (1.0, 1.25)}
    # A ratio whose runs disagree meets a goal only when both runs clear it; the
    # shape's other ratios still count.
    far_too = {**far, ("ptb", "B=20", "infer", "ours fused"): 1.0,
               ("ptb", "B=20", "infer", "PyTorch nn.LSTM"): 1.1}
    lines = speed.goals(far_too, "lstm", {key: (0.95, 1.25)})
    assert "**not met** (ptb 1.25x (runs disagree: 0.95x then 1.25x; short))" in lines[0]
    assert "**met** (ptb 1.10x)" in lines[1]
    lines = speed.goals(far_too, "lstm", differ)
    assert "**met** (ptb 1.25x (runs disagree: 1.00x then 1.25x; both clear it))" in lines[0]
    assert "**met** (ptb 1.25x)" in speed.goals(far, "lstm")[0]
    assert "1.00x then 1.25x" in speed.agreement({"ptb": 2}, {"ptb": differ})[0]
    assert "these ratios of the last two did **not** agree" in speed.agreement(
        {"ptb": 2}, {"ptb": differ})[0]


def test_steady_malloc_fixes_glibcs_thresholds_here(load_script):
    """speed.py and step_profile.py fix glibc malloc's thresholds before timing; on this
    Linux (glibc) mallopt accepts both."""
    import platform

    harness = load_script("benchmarks/harness.py")
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc: steady_malloc says False and changes nothing")
    assert harness.steady_malloc() is True
