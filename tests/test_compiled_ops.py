"""gluon_seq's compiled operators (the cell step, the weight packing): their
numbers, their build, and the fallbacks.

Agreement between the two kernels and with stock operators, layer by layer, is
in test_layers.py (every case runs with compiled and with stock operators)."""
import os
import shutil
import subprocess
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from gluon_seq.rnn import compiled_ops
from gluon_seq.serving.format import graph_operators
from gluon_seq.rnn import LSTM

# Decided when a test runs, not at collection: building the library compiles C++.
needs_op = pytest.mark.usefixtures("needs_compiled_ops")


def test_compiled_ops_builds_wherever_a_compiler_is():
    if shutil.which(os.environ.get("CXX") or "c++") is None:
        pytest.skip("no C++ compiler on PATH")
    assert compiled_ops.available(), compiled_ops.unavailable_reason()
    assert compiled_ops.library_path().exists()


def _reference(x_gates, h_gates, c_prev):
    """The textbook cell in float64 numpy: h, c, and d(h.wh + c.wc)/d(inputs)."""
    sig = lambda v: np.exp(-np.logaddexp(0, -v))  # 1 / (1 + e^-v) without overflow
    i, f, g, o = np.split(x_gates.astype(np.float64) + h_gates, 4, axis=1)
    i, f, g, o = sig(i), sig(f), np.tanh(g), sig(o)
    c = f * c_prev + i * g
    return o * np.tanh(c), c


@needs_op
@pytest.mark.parametrize("scale", [0.1, 3.0, 100.0, 1e4])
def test_op_matches_the_textbook_cell_including_saturated_gates(scale):
    """Built with -ffast-math: saturated gates (exp overflowing to inf) must still
    give exact 0/1 activations and finite gradients, not NaN."""
    rng = np.random.RandomState(7)
    N, H = 5, 19  # H not a multiple of the vector width: the loop's tail runs too
    x_gates = (rng.randn(N, 4 * H) * scale).astype("float32")
    h_gates = (rng.randn(N, 4 * H) * scale).astype("float32")
    c_prev = (rng.randn(N, H) * 2).astype("float32")
    want_h, want_c = _reference(x_gates, h_gates, c_prev)
    inputs = [mx.nd.array(a) for a in (x_gates, h_gates, c_prev)]
    for a in inputs:
        a.attach_grad()
    with autograd.record():
        h, c = getattr(mx.nd._internal, compiled_ops.CELL_OP)(*inputs)
        loss = (h * 0.3).sum() + (c * 1.7).sum()
    loss.backward()
    np.testing.assert_allclose(h.asnumpy(), want_h, atol=1e-6)
    np.testing.assert_allclose(c.asnumpy(), want_c, atol=1e-5, rtol=1e-6)
    # The same gradients as the stock-operator cell computes.
    stock = [mx.nd.array(a) for a in (x_gates, h_gates, c_prev)]
    for a in stock:
        a.attach_grad()
    with autograd.record():
        i, f, g, o = mx.nd.split(stock[0] + stock[1], num_outputs=4, axis=1)
        c2 = mx.nd.sigmoid(f) * stock[2] + mx.nd.sigmoid(i) * mx.nd.tanh(g)
        h2 = mx.nd.sigmoid(o) * mx.nd.tanh(c2)
        ((h2 * 0.3).sum() + (c2 * 1.7).sum()).backward()
    for ours, theirs in zip(inputs, stock):
        assert np.isfinite(ours.grad.asnumpy()).all()
        np.testing.assert_allclose(ours.grad.asnumpy(), theirs.grad.asnumpy(), atol=1e-5)


@needs_op
@pytest.mark.parametrize("scale", [0.1, 100.0, 1e4])
def test_layer_op_step_is_the_cell_op_step_including_saturated_gates(scale):
    """One step of the layer operator: its GEMM h0 w^T, then the same cell as the
    cell operator, whose gradient it must give for the gates."""
    rng = np.random.RandomState(5)
    N, H = 7, 19  # rows past a block of 6, H past a panel's vectors
    x_gates = (rng.randn(1, N, 4 * H) * scale).astype("float32")
    h0, c0 = rng.randn(N, H).astype("float32"), (rng.randn(N, H) * 2).astype("float32")
    w = (rng.randn(4 * H, H) * scale / H).astype("float32")
    want_h, want_c = _reference(x_gates[0], h0.astype(np.float64) @ w.T, c0)
    inputs = [mx.nd.array(a) for a in (x_gates, h0, c0, w)]
    cell_inputs = [mx.nd.array(x_gates[0]), mx.nd.array(h0 @ w.T), mx.nd.array(c0)]
    for a in inputs + cell_inputs:
        a.attach_grad()
    with autograd.record():
        h, c, _ = getattr(mx.nd._internal, compiled_ops.LAYER_OP)(*inputs)
        ((h * 0.3).sum() + (c * 1.7).sum()).backward()
        h1, c1 = getattr(mx.nd._internal, compiled_ops.CELL_OP)(*cell_inputs)
        ((h1 * 0.3).sum() + (c1 * 1.7).sum()).backward()
    np.testing.assert_allclose(h.asnumpy()[0], want_h, atol=1e-5)
    np.testing.assert_allclose(c.asnumpy()[0], want_c, atol=1e-4, rtol=1e-5)
    assert all(np.isfinite(a.grad.asnumpy()).all() for a in inputs)
    np.testing.assert_allclose(inputs[0].grad.asnumpy()[0], cell_inputs[0].grad.asnumpy(),
                               atol=1e-5)
    np.testing.assert_allclose(inputs[2].grad.asnumpy(), cell_inputs[2].grad.asnumpy(),
                               atol=1e-5)


def _gru_reference(x_gates, h_gates, h_prev, b_hh):
    """The reset-after GRU step (gluon_seq/rnn/cells.py) in float64 numpy."""
    sig = lambda v: np.exp(-np.logaddexp(0, -v))
    x_r, x_z, x_n = np.split(x_gates.astype(np.float64), 3, axis=1)
    h_r, h_z, h_n = np.split(h_gates.astype(np.float64) + b_hh, 3, axis=1)
    r, z = sig(x_r + h_r), sig(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h_prev


@needs_op
@pytest.mark.parametrize("scale", [0.1, 3.0, 100.0, 1e4])
def test_gru_op_matches_the_textbook_cell_including_saturated_gates(scale):
    rng = np.random.RandomState(11)
    N, H = 6, 19  # H not a multiple of the vector width: the loop's tail runs too
    values = [(rng.randn(N, 3 * H) * scale).astype("float32"),
              (rng.randn(N, 3 * H) * scale).astype("float32"),
              rng.randn(N, H).astype("float32"), (rng.randn(3 * H) * scale).astype("float32")]
    np.testing.assert_allclose(
        getattr(mx.nd._internal, compiled_ops.GRU_CELL_OP)(*map(mx.nd.array, values)).asnumpy(),
        _gru_reference(*values), atol=1e-5)  # float32 sums of inputs up to 1e4 against float64
    grads = []
    for step in (lambda x, r, h, b: getattr(mx.nd._internal, compiled_ops.GRU_CELL_OP)(x, r, h, b),
                 _stock_gru_step):
        inputs = [mx.nd.array(v) for v in values]
        for a in inputs:
            a.attach_grad()
        with autograd.record():
            (step(*inputs) * mx.nd.arange(1, N * H + 1).reshape((N, H)) / (N * H)).sum().backward()
        grads.append([a.grad.asnumpy() for a in inputs])
    for ours, theirs in zip(*grads):
        assert np.isfinite(ours).all()
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    if scale <= 3.0:  # not saturated: b_hh's gradient (summed over the rows) is not zero
        assert np.abs(grads[0][3]).max() > 1e-3


def _stock_gru_step(x, r, h, b):
    x_r, x_z, x_n = mx.nd.split(x, num_outputs=3, axis=1)
    h_r, h_z, h_n = mx.nd.split(mx.nd.broadcast_add(r, b.reshape((1, -1))), num_outputs=3, axis=1)
    reset, update = mx.nd.sigmoid(x_r + h_r), mx.nd.sigmoid(x_z + h_z)
    n = mx.nd.tanh(x_n + reset * h_n)
    return (1 - update) * n + update * h


@needs_op
def test_gru_op_refuses_mismatched_shapes_with_a_message():
    with pytest.raises(mx.base.MXNetError, match=r"gates \(N, 3H\).*bias \(3H\)"):
        getattr(mx.nd._internal, compiled_ops.GRU_CELL_OP)(
            mx.nd.ones((2, 9)), mx.nd.ones((2, 9)), mx.nd.ones((2, 3)), mx.nd.ones((3,)))


@needs_op
def test_op_refuses_mismatched_shapes_with_a_message():
    with pytest.raises(mx.base.MXNetError, match=r"gates \(N, 4H\)"):
        getattr(mx.nd._internal, compiled_ops.CELL_OP)(mx.nd.ones((2, 8)), mx.nd.ones((2, 8)),
                                                  mx.nd.ones((2, 3)))


@needs_op
def test_layer_ops_refuse_mismatched_shapes_with_a_message():
    with pytest.raises(mx.base.MXNetError, match=r"gates \(T, N, 4H\).*weights \(4H, H\)"):
        getattr(mx.nd._internal, compiled_ops.LAYER_OP)(
            mx.nd.ones((3, 2, 8)), mx.nd.ones((2, 2)), mx.nd.ones((2, 2)), mx.nd.ones((8, 3)))
    with pytest.raises(mx.base.MXNetError, match=r"gates \(T, N, 3H\).*bias \(3H\)"):
        getattr(mx.nd._internal, compiled_ops.GRU_LAYER_OP)(
            mx.nd.ones((3, 2, 6)), mx.nd.ones((2, 2)), mx.nd.ones((6, 2)), mx.nd.ones((5,)))
    with pytest.raises(mx.base.MXNetError, match=r"panels of a \(num_hidden, K\) weight"):
        getattr(mx.nd._internal, compiled_ops.DENSE_OP)(  # panels of K=2, inputs of K=3
            mx.nd.ones((5, 3)), mx.nd.ones((128,)), mx.nd.ones((4,)), num_hidden=4, flatten=1)


@needs_op
def test_a_layer_with_packed_weights_is_for_inference_only():
    w = mx.nd.random.uniform(-0.5, 0.5, shape=(8, 2))
    inputs = [mx.nd.ones((3, 2, 8)), mx.nd.ones((2, 2)), mx.nd.ones((2, 2))]
    layer = getattr(mx.nd._internal, compiled_ops.LAYER_OP)
    panels = getattr(mx.nd._internal, compiled_ops.PANELS_OP)(w)
    np.testing.assert_allclose(layer(*inputs, panels, packed=1)[0].asnumpy(),
                               layer(*inputs, w)[0].asnumpy(), rtol=1e-6)
    inputs[0].attach_grad()
    with pytest.raises(mx.base.MXNetError, match="packed weights is for inference"):
        with autograd.record():
            out = layer(*inputs, panels, packed=1)[0]
        out.backward()
        inputs[0].grad.asnumpy()


@needs_op
@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("backend", ["fused", "unfused"])
def test_a_layer_called_twice_in_one_recorded_pass_gets_both_gradients(static, backend):
    """A block used twice before one backward (static graph or not): each call's
    backward must read its own inputs, with compiled operators as with stock ones."""
    grads = []
    for compiled in (True, False):
        layer = LSTM(5, input_size=3, kernel=backend, length=4, compiled_ops=compiled,
                     prefix="twice_")
        mx.random.seed(3)  # the same weights for both layers
        layer.initialize(mx.init.Uniform(0.5))
        layer.hybridize(static_alloc=static, static_shape=static)
        rng = np.random.RandomState(1)
        x1, x2 = (mx.nd.array(rng.randn(4, 2, 3)) for _ in range(2))
        states = layer.begin_state(2)
        with autograd.record():
            first, _ = layer(x1, states)
            second, _ = layer(x2, states)
            ((first * first).sum() + (second * 3).sum()).backward()
        grads.append(layer.l0_h2h_weight.grad().asnumpy())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-5)
    assert np.abs(grads[0]).max() > 0


@needs_op
@pytest.mark.parametrize("backend,stock_op", [("unfused", "FullyConnected"),
                                              ("fused", "_rnn_param_concat")])
def test_export_uses_stock_operators_and_loads_without_gluon_seq(tmp_path, backend, stock_op):
    """A portable layer's graph has no compiled op in it, so a process with nothing
    but mxnet serves it."""
    layer = LSTM(4, input_size=3, kernel=backend, length=5, prefix="exp_")
    layer.initialize(mx.init.Xavier())
    assert layer._compiled
    x = mx.nd.random.normal(shape=(5, 2, 3))
    states = layer.begin_state(2)
    want = layer(x, states)[0].asnumpy()
    portable = LSTM(4, input_size=3, kernel=backend, length=5, prefix="exp_", portable=True,
                    params=layer.collect_params())  # the same weights
    portable.hybridize()
    np.testing.assert_allclose(portable(x, states)[0].asnumpy(), want, rtol=1e-5, atol=1e-6)
    portable.export(str(tmp_path / "m"))
    ops = graph_operators((tmp_path / "m-symbol.json").read_text())
    assert not ops & set(compiled_ops.OPS) and stock_op in ops
    np.save(tmp_path / "x.npy", x.asnumpy())
    script = textwrap.dedent("""
        import sys, numpy as np, mxnet as mx
        block = mx.gluon.SymbolBlock.imports("m-symbol.json", ["data0", "data1", "data2"],
                                             "m-0000.params")
        zeros = mx.nd.zeros((1, 2, 4))
        out = block(mx.nd.array(np.load("x.npy")), zeros, zeros)[0].asnumpy()
        np.save("out.npy", out)
        assert "gluon_seq" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": ""})
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), want, atol=1e-5)


def _in_fresh_process(tmp_path, env, code):
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GLUON_SEQ_CACHE": str(tmp_path / "cache"), **env})
    assert done.returncode == 0, done.stderr
    return done


FALLBACK = """
    import mxnet as mx, numpy as np
    from gluon_seq.rnn import LSTM
    layer = LSTM(4, input_size=3, kernel="unfused")
    layer.initialize()
    out, _ = layer(mx.nd.ones((5, 2, 3)), layer.begin_state(2))
    assert np.isfinite(out.asnumpy()).all() and out.shape == (5, 2, 4)
    print("compiled" if layer._compiled else "stock")
    try:
        LSTM(4, input_size=3, kernel="unfused", compiled_ops=True)
    except RuntimeError as err:  # asked for in code, and this machine cannot build them
        print("refused:", err)
"""


def test_without_a_compiler_the_kernel_falls_back_to_stock_operators(tmp_path):
    done = _in_fresh_process(tmp_path, {"CXX": str(tmp_path / "no-such-compiler")}, FALLBACK)
    lines = done.stdout.splitlines()
    assert lines[0] == "stock"
    assert lines[1].startswith("refused: compiled_ops=True, but") and "no C++ compiler" in lines[1]
    warnings = [line for line in done.stderr.splitlines() if "stock operators" in line]
    assert len(warnings) == 1  # said once per process, not once per layer
    assert not list((tmp_path / "cache").glob("*.so"))


def test_the_environment_switch_turns_the_compiled_ops_off(tmp_path):
    done = _in_fresh_process(tmp_path, {"GLUON_SEQ_COMPILED_OPS": "0"}, FALLBACK)
    assert done.stdout.splitlines()[0] == "stock"
    assert "GLUON_SEQ_COMPILED_OPS=0" in done.stdout


@pytest.mark.slow
@needs_op
def test_build_is_cached_and_leaves_no_partial_files(tmp_path):
    target = tmp_path / "lib" / "cell.so"
    assert compiled_ops.build(target) == target
    stamp = target.stat().st_mtime_ns
    assert compiled_ops.build(target) == target and target.stat().st_mtime_ns == stamp
    assert [p.name for p in target.parent.iterdir()] == ["cell.so"]


@pytest.mark.parametrize("backend", ["fused", "unfused"])
def test_gpu_layers_never_use_the_compiled_ops(backend):
    assert not LSTM(4, kernel=backend, input_size=3, ctx=mx.gpu(0))._compiled
    with pytest.raises(ValueError, match="compiled_ops=True needs a CPU"):
        LSTM(4, kernel=backend, input_size=3, ctx=mx.gpu(0), compiled_ops=True)


@needs_op
def test_pack_matches_rnn_param_concat_forward_and_backward():
    rng = np.random.RandomState(5)
    values = [rng.randn(*shape) for shape in [(8, 3), (8, 2), (8,), (8,), (1,)]]
    weight = mx.nd.array(rng.randn(sum(v.size for v in values)))
    got = []
    for pack in (lambda *a: getattr(mx.nd._internal, compiled_ops.PACK_OP)(*a, num_args=len(a)),
                 lambda *a: mx.nd._internal._rnn_param_concat(*a, dim=0)):
        parts = [mx.nd.array(v) for v in values]
        for part in parts:
            part.attach_grad()
        with autograd.record():
            flat = pack(*[part.reshape(-1) for part in parts])
            (flat * weight).sum().backward()
        got.append([flat.asnumpy()] + [part.grad.asnumpy() for part in parts])
    for ours, theirs in zip(*got):
        np.testing.assert_array_equal(ours, theirs)
    assert np.abs(got[0][1]).max() > 0
    with pytest.raises(mx.base.MXNetError, match="num_args"):
        getattr(mx.nd._internal, compiled_ops.PACK_OP)(mx.nd.ones(3))


def test_a_failing_compiler_is_one_line_naming_its_first_error(tmp_path):
    compiler = tmp_path / "broken-c++"
    compiler.write_text("#!/bin/sh\necho 'In file included from x.h'\n"
                        "echo 'lstm_ops.cc:1:1: error: something broke' >&2\nexit 1\n")
    compiler.chmod(0o755)
    done = _in_fresh_process(tmp_path, {"CXX": str(compiler)}, FALLBACK)
    assert done.stdout.splitlines()[0] == "stock"
    assert "failed (status 1): lstm_ops.cc:1:1: error: something broke" in done.stdout
    assert not list((tmp_path / "cache").iterdir())  # no partial library left behind


@needs_op
@pytest.mark.parametrize("backend", ["fused", "unfused"])
@pytest.mark.parametrize("required", [None, True])
def test_weights_on_a_gpu_get_stock_operators_even_from_a_cpu_built_layer(monkeypatch, backend,
                                                                           required):
    """Built under the default (CPU) context, then initialized on a GPU: the traced
    graph must not hold CPU-only operators, or ask clearly when they were insisted on."""
    layer = LSTM(4, input_size=3, kernel=backend, length=2, compiled_ops=required,
                 prefix="gpu_")
    layer.initialize()
    assert layer._compiled

    def graph():
        out, _ = layer(mx.sym.var("x"), [mx.sym.var("h"), mx.sym.var("c")])
        return out.tojson()

    assert any(op in graph() for op in compiled_ops.OPS)  # weights on the CPU
    for param in layer.collect_params().values():
        monkeypatch.setattr(param, "list_ctx", lambda: [mx.gpu(0)])
    if required:
        with pytest.raises(ValueError, match="weights are on gpu"):
            graph()
    else:
        assert not [op for op in compiled_ops.OPS if op in graph()]


@needs_op
@pytest.mark.parametrize("op", compiled_ops.OPS)
def test_ops_refuse_other_dtypes_naming_themselves(op):
    # Shapes each op accepts: gates (2, 8) for H=2 (LSTM) or, with a (6,) bias, 3H=6 (GRU);
    # the layer takes 3 steps of gates, two states and the recurrent weight.
    shapes = {compiled_ops.GRU_CELL_OP: [(2, 6), (2, 6), (2, 2), (6,)],
              compiled_ops.LAYER_OP: [(3, 2, 8), (2, 2), (2, 2), (8, 2)],
              compiled_ops.GRU_LAYER_OP: [(3, 2, 6), (2, 2), (6, 2), (6,)],
              compiled_ops.PANELS_OP: [(4, 2)],
              compiled_ops.DENSE_OP: [(3, 2), (128,), (4,)],  # panels of a (4, 2) weight
              compiled_ops.SGD_OP: [(2, 2)] * 2, compiled_ops.SGD_MOM_OP: [(2, 2)] * 3,
              compiled_ops.ADAM_OP: [(2, 2)] * 4}.get(
        op, [(2, 8), (2, 8), (2, 2)])
    inputs = [mx.nd.ones(shape, dtype="float64") for shape in shapes]
    kwargs = {compiled_ops.PACK_OP: {"num_args": 3},
              compiled_ops.DENSE_OP: {"num_hidden": 4, "flatten": 1}}.get(op, {})
    with pytest.raises(mx.base.MXNetError, match=f"{op} supports float32 only"):
        getattr(mx.nd._internal, op)(*inputs, **kwargs)
