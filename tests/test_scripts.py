"""scripts/train.py on the CPU, as CI can run it, and its GPU flags; the parser of oneDNN's
log in benchmarks/profiling/ (dnnl_verbose.py, which step_profile.py reads);
benchmarks/seed_models.py writes no table when a row failed."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "train.py"


@pytest.mark.parametrize("argv,expected", [
    (["arithmetic", "--gpus", "0,1"], ["arithmetic", "--ctx", "gpu:0,gpu:1"]),
    (["arithmetic", "--gpus=2"], ["arithmetic", "--ctx", "gpu:2"]),
    (["ptb", "--ctx", "cpu", "--amp"], ["ptb", "--ctx", "cpu", "--amp"]),
])
def test_gpus_flag_becomes_a_context_list(load_script, argv, expected):
    assert load_script("scripts/train.py").translate(argv) == expected


@pytest.mark.slow
@pytest.mark.integration
def test_cpu_training_checkpoints_resumes_and_plots(tmp_path):
    out = tmp_path / "run"
    tiny = ["--train-samples", "96", "--valid-samples", "32", "--test-samples", "32"]
    first = subprocess.run([sys.executable, str(SCRIPT), "arithmetic", "--ctx", "cpu", "--epochs", "1",
                            "--out", str(out), *tiny], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([sys.executable, str(SCRIPT), "arithmetic", "--ctx", "cpu", "--epochs", "2",
                            "--out", str(out), "--resume", *tiny], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert "epoch   2/2" in again.stdout and "epoch   1/2" not in again.stdout
    png = out / "curves.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv,phrase", [
    (["arithmetic", "--gpus", "0", "--epochs", "1"], "--ctx cpu"),
    (["arithmetic", "--amp", "--epochs", "1"], "GPUs only"),
])
def test_gpu_only_requests_fail_clearly_on_this_machine(tmp_path, argv, phrase):
    import mxnet as mx

    if mx.runtime.Features().is_enabled("CUDA") and "--gpus" in argv:
        pytest.skip("this mxnet has CUDA")
    result = subprocess.run([sys.executable, str(SCRIPT), *argv, "--out", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert phrase in result.stderr and "Traceback" not in result.stderr


@pytest.mark.gpu
def test_two_gpu_training_runs(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "arithmetic", "--gpus", "0", "--epochs", "1",
                             "--train-samples", "256", "--out", str(tmp_path / "g")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr


# Lines copied from a DNNL_VERBOSE=1 run of benchmarks/profiling/step_profile.py's passes (MXNet 1.9.1,
# oneDNN v2.4.4): the fused PTB training step and the unfused arithmetic one.
_DESCS = ("src_layer_f32::blocked:abc:f0 src_iter_f32::blocked:abcd:f0 wei_layer_f32::blocked:"
          "abcde:f0 wei_iter_f32::blocked:abcde:f0 bias_f32::blocked:abcd:f0 dst_layer_f32::"
          "blocked:abc:f0 dst_iter_f32::blocked:abcd:f0,,alg:vanilla_lstm direction:"
          "unidirectional_left2right activation:undef,l1t30mb20sic500slc500dhc500dic500")
VERBOSE_LOG = [
    "dnnl_verbose,info,oneDNN v2.4.4 (commit 5818c40f07bdb6307f9bc64e929836fe036da644)",
    "dnnl_verbose,info,cpu,runtime:OpenMP",
    "@@profile-call-begin",
    "dnnl_verbose,exec,cpu,reorder,simple:any,undef,src_f32::blocked:ab:f0 dst_f32::blocked:ab:f0"
    ",,,2000x500,0.871826",
    "dnnl_verbose,exec,cpu,reorder,jit:uni,undef,src_f32::blocked:abdec:f0 dst_f32::blocked:"
    "abcde:f0,,,1x1x500x4x500,1.85498",
    "dnnl_verbose,exec,cpu,rnn,ref:any,forward_training," + _DESCS + ",66.1851",
    "dnnl_verbose,exec,cpu,rnn,ref:any,backward," + _DESCS + ",130.174",
    "dnnl_verbose,exec,cpu,reorder,jit:uni,undef,src_f32::blocked:abcde:f0 dst_f32::blocked:"
    "abdec:f0,,,1x1x500x4x500,25.4551",
    "@@profile-call-end 0.25",
    "@@profile-call-begin",
    "mkldnn_verbose,exec,cpu,inner_product,x64:gemm:jit,forward_training,src_f32::blocked:ab:f0 "
    "wei_f32::blocked:ab:f0 bia_f32::blocked:a:f0 dst_f32::blocked:ab:f0,,,mb256ic13oc128,"
    "0.0319824",
    "dnnl_verbose,exec,cpu,sum,simple:any,undef,src_f32::blocked:a:f0 src_f32::blocked:a:f0 "
    "dst_f32::blocked:a:f0,,,128,0.00317383",
    "dnnl_verbose,exec,cpu,reorder,jit:uni,undef,src_f32::blocked:abdec:f0 dst_f32:p:blocked:"
    "abdEc32e:f0,,,1x1x500x4x500,6.30298",
    "@@profile-call-end 0.01",
    "dnnl_verbose,exec,cpu,rnn,ref:any,backward," + _DESCS + ",106.423",  # after the last call
]


def test_dnnl_verbose_sums_each_primitive_kind_per_call(load_script):
    parser = load_script("benchmarks/profiling/dnnl_verbose.py")
    calls = parser.split_calls(VERBOSE_LOG)
    assert [seconds for seconds, _ in calls] == [0.25, 0.01]
    first, second = (parser.per_kind(lines) for _, lines in calls)
    assert first.keys() == {"reorder (copy)", "reorder (re-layout)", "rnn forward_training",
                            "rnn backward"}
    assert first["reorder (re-layout)"] == pytest.approx((1.85498 + 25.4551, 2))
    assert first["reorder (copy)"] == pytest.approx((0.871826, 1))
    assert first["rnn backward"] == pytest.approx((130.174, 1))
    expected = {"inner_product forward_training": (0.0319824, 1), "sum": (0.00317383, 1),
                "reorder (re-layout)": (6.30298, 1)}  # mkldnn_verbose: the older prefix
    assert second.keys() == expected.keys()
    assert all(second[k] == pytest.approx(v) for k, v in expected.items())
    rows = parser.summarize(calls)
    inside = [0.871826 + 1.85498 + 66.1851 + 130.174 + 25.4551,
              0.0319824 + 0.00317383 + 6.30298]
    assert rows["all primitives"][0] == pytest.approx(sum(inside) / 2)  # median of two
    assert rows["rnn forward_training"] == pytest.approx((66.1851 / 2, 0.5))
    outside = (250 - inside[0] + 10 - inside[1]) / 2
    assert rows["outside the primitives"][0] == pytest.approx(outside)
    assert rows["wall"] == pytest.approx((130.0, 1))


def test_seed_models_reports_a_failed_row_and_writes_nothing(load_script, tmp_path, monkeypatch):
    seed_models = load_script("benchmarks/seed_models.py")
    harness = load_script("benchmarks/harness.py")
    failed = {"code": 3, "wall": 1.0, "cpu": 1.0, "peak_mb": 100.0, "metrics": None, "log": "x.log"}
    monkeypatch.setattr(seed_models, "train_cli", lambda *args, **kwargs: dict(failed))
    written = []
    monkeypatch.setattr(harness, "write_section", lambda *args: written.append(args))
    assert seed_models.main(["--only", "babi", "--runs", str(tmp_path)]) == 1
    assert written == []


def test_model_steps_times_both_kernels_of_a_task(load_script):
    """benchmarks/model_steps.py hands step_seconds a layer factory per kernel (it once
    passed the kernel's name, and every task failed)."""
    row = load_script("benchmarks/model_steps.py").measure("alphabet", 1)
    assert all(row[f"{kernel}_{mode}"] > 0 for kernel in ("fused", "unfused")
               for mode in ("train", "infer", "one"))


def test_optimizer_update_times_every_way_of_a_real_model(load_script):
    """benchmarks/optimizer_update.py times a real model's step three ways, each with its
    own optimizer arguments."""
    row = load_script("benchmarks/optimizer_update.py").measure("sentiment", None, 2)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:2] == ["sentiment", "adam"]
    assert all(float(cell) > 0 for cell in cells[4:7])
    assert cells[3] != "0 in 0"  # it has large tensors, so the ways differ


def test_table_rows_says_which_case_had_no_data(load_script):
    from gluon_seq import UserError

    def row(case):
        if case[0] == "ptb":
            raise UserError("no PTB data here")
        return f"| {case[0]} | 1 | 2 | 3 |"

    lines = load_script("benchmarks/harness.py").table_rows(
        [("ptb", "medium"), ("arithmetic", None)], row, 4)
    assert lines == ["| ptb medium | skipped: no PTB data here | | |", "| arithmetic | 1 | 2 | 3 |"]
    assert all(line.count("|") == 5 for line in lines)  # 4 cells each


def test_weight_relayout_probe_times_two_graphs_of_the_same_numbers():
    """benchmarks/profiling/weight_relayout.py: the graph whose pack is rewritten each
    call computes what the one with the constant pack does, and every contender runs."""
    import importlib

    import mxnet as mx

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    probe = importlib.import_module("benchmarks.profiling.weight_relayout")
    blocks = [probe.PackedLSTM(3, 4, 2, repack) for repack in (False, True)]
    for block in blocks:
        block.initialize(mx.init.Uniform(0.5))
        block.hybridize(static_alloc=True, static_shape=True)
    blocks[1].pack0.set_data(blocks[0].pack0.data())
    blocks[1].pack1.set_data(blocks[0].pack1.data())
    x, states = mx.nd.random.uniform(shape=(5, 2, 3)), [mx.nd.ones((2, 2, 4)) * 0.3] * 2
    outputs = [block(x, *states).asnumpy() for block in blocks]
    assert outputs[0].shape == (5, 2, 4) and abs(outputs[0]).max() > 0
    assert abs(outputs[0] - outputs[1]).max() < 1e-6
    calls = probe.contenders("arithmetic", 1)
    assert len(calls) >= 3
    for call in calls.values():
        call()


@pytest.mark.parametrize("kind", ["ours fused", "ours unfused", "PyTorch"])
def test_a_contenders_training_step_descends_the_mean_of_its_output(load_script, kind):
    """benchmarks/contenders.py feeds the output the mean's gradient instead of computing the
    mean: training steps must still lower that mean, for ours and for PyTorch."""
    contenders = load_script("benchmarks/contenders.py")
    shape = (4, 3, 2, 5, 1)  # T, B, input, hidden, layers
    if kind == "PyTorch":
        if not contenders.HAVE_TORCH:
            pytest.skip("torch is not installed (the bench extra)")
        train, infer = contenders.torch_contender("lstm", shape, 3)
    else:
        train, infer = contenders.mxnet_contender(kind, "lstm", shape, 3)

    def mean(out) -> float:  # an MXNet NDArray or a torch tensor
        return float(out.asnumpy().mean() if hasattr(out, "asnumpy") else out.mean())

    before = mean(infer())
    for _ in range(3):
        train()
    assert mean(infer()) < before - 1e-5
