"""Threads, devices and the GPU guard (testable without a GPU)."""
import os

import mxnet as mx
import pytest

from gluon_seq.util import runtime
from gluon_seq.util.errors import UserError


@pytest.mark.parametrize("cap,ok", [("8.6", True), ("8.9", True), ("7.5", True), ("5.2", True),
                                    ("9.0", False), ("10.0", False), ("3.7", False)])
def test_gpu_guard_knows_which_architectures_mxnet_cu112_runs_on(cap, ok):
    if ok:
        runtime.check_gpu_supported("Some GPU", cap)
    else:
        with pytest.raises(UserError) as info:
            runtime.check_gpu_supported("NVIDIA H100 80GB HBM3", cap)
        text = str(info.value)
        assert "NVIDIA H100" in text and "sm_86" in text and "--ctx cpu" in text


def test_gpu_request_on_a_cpu_build_suggests_cpu():
    if mx.runtime.Features().is_enabled("CUDA"):
        pytest.skip("this mxnet has CUDA")
    with pytest.raises(UserError, match="--ctx cpu"):
        runtime.parse_contexts("gpu:0")


@pytest.mark.parametrize("spec,ids", [("cpu", [0]), (" cpu ", [0]), ("cpu:0,cpu:1", [0, 1]),
                                      ("cpu:1", [1])])
def test_context_parsing(spec, ids):
    contexts = runtime.parse_contexts(spec)
    assert [c.device_type for c in contexts] == ["cpu"] * len(ids)
    assert [c.device_id for c in contexts] == ids


@pytest.mark.parametrize("spec", ["tpu:0", "gpu:x", "", "cpu:abc", "cpu:-1", "cpu:", "cpu,cpu",
                                  "cpu:0,cpu", "cpu:１"])
def test_bad_context_specs(spec):
    with pytest.raises(UserError):
        runtime.parse_contexts(spec) if spec else runtime.parse_contexts(",")


def test_physical_cores_is_within_what_the_process_may_use():
    cores = runtime.physical_cores()
    assert 1 <= cores <= len(os.sched_getaffinity(0))


def test_threads_default_respects_the_user(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    runtime.configure_threads()
    assert os.environ["OMP_NUM_THREADS"] == "7"
    monkeypatch.delenv("OMP_NUM_THREADS")
    runtime.configure_threads()
    assert os.environ["OMP_NUM_THREADS"] == str(runtime.physical_cores())


@pytest.mark.gpu
def test_fused_and_unfused_agree_on_gpu():
    import numpy as np
    from gluon_seq.rnn import LSTM

    ctx = mx.gpu(0)
    layers = {b: LSTM(16, 2, kernel=b, input_size=8, length=5, prefix="g_") for b in ("fused", "unfused")}
    layers["fused"].initialize(mx.init.Xavier(), ctx=ctx)
    layers["unfused"].initialize(ctx=ctx)
    for name, p in layers["fused"].collect_params().items():
        layers["unfused"].collect_params()[name].set_data(p.data())
    x = mx.nd.random.normal(shape=(5, 4, 8), ctx=ctx)
    states = layers["fused"].begin_state(4, ctx)
    a, _ = layers["fused"](x, states)
    b, _ = layers["unfused"](x, states)
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-4, atol=1e-5)
