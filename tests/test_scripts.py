"""scripts/train.py on the CPU, as CI can run it, and its GPU flags."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "train.py"


def _module():
    spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv,expected", [
    (["arithmetic", "--gpus", "0,1"], ["arithmetic", "--ctx", "gpu:0,gpu:1"]),
    (["arithmetic", "--gpus=2"], ["arithmetic", "--ctx", "gpu:2"]),
    (["ptb", "--ctx", "cpu", "--amp"], ["ptb", "--ctx", "cpu", "--amp"]),
])
def test_gpus_flag_becomes_a_context_list(argv, expected):
    assert _module().translate(argv) == expected


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
