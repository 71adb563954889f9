"""The fused and unfused kernels are one layer: same weights, same numbers."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from gluon_seq.rnn import compiled_ops as native
from gluon_seq.serving.format import graph_operators
from gluon_seq.rnn import LSTM
from gluon_seq.rnn import kernels

# (T, N, C, H, layers, layout), random-ish shapes fixed so failures replay.
CASES = [
    (1, 1, 1, 1, 1, "TNC"),
    (5, 3, 4, 6, 1, "TNC"),
    (7, 2, 3, 5, 2, "TNC"),
    (4, 6, 9, 8, 1, "NTC"),
    (9, 4, 5, 7, 2, "NTC"),
    (3, 17, 13, 32, 2, "TNC"),
]


# On CPU both kernels use gluon_seq's compiled operators (the unfused cell step,
# the fused kernel's weight packing) by default, or stock operators; all must agree.
OPS = [pytest.param(None, id="compiled-ops"), pytest.param(False, id="stock-ops")]


def _pair(T, C, H, layers, layout, bidirectional=False, ops=None):
    fused, unfused = (LSTM(H, layers, kernel=b, layout=layout, input_size=C, length=T,
                           bidirectional=bidirectional, prefix="lstm_", compiled_ops=ops)
                      for b in ("fused", "unfused"))
    fused.initialize(mx.init.Uniform(0.5))
    unfused.initialize()
    for name, param in fused.collect_params().items():
        unfused.collect_params()[name].set_data(param.data())
        # Biases start at zero by default; make them count in the comparison.
        if name.endswith("bias"):
            value = mx.nd.random.uniform(-0.5, 0.5, shape=param.shape)
            param.set_data(value)
            unfused.collect_params()[name].set_data(value)
    return fused, unfused


def _run(layer, x, states):
    x = x.copy()
    states = [s.copy() for s in states]
    for array in [x] + states:
        array.attach_grad()
    with autograd.record():
        out, (h, c) = layer(x, states)
        # A loss that weighs every output and both final states differently.
        loss = (out * mx.nd.arange(1, out.size + 1).reshape(out.shape) / out.size).sum() \
            + (h * 0.7).sum() + (c * 1.3).sum()
    loss.backward()
    grads = {name[len(layer.prefix):]: p.grad().asnumpy() for name, p in layer.collect_params().items()}
    return (out.asnumpy(), h.asnumpy(), c.asnumpy(), x.grad.asnumpy(),
            *(s.grad.asnumpy() for s in states), grads)


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("T,N,C,H,layers,layout", CASES)
def test_kernels_agree_on_outputs_states_and_gradients(T, N, C, H, layers, layout, hybridize,
                                                        ops):
    fused, unfused = _pair(T, C, H, layers, layout, ops=ops)
    assert fused._compiled == unfused._compiled == (ops is None and native.available())
    if hybridize:
        fused.hybridize()
        unfused.hybridize()
    shape = (T, N, C) if layout == "TNC" else (N, T, C)
    x = mx.nd.random.normal(shape=shape)
    states = [mx.nd.random.normal(shape=(layers, N, H)) for _ in range(2)]
    got_f = _run(fused, x, states)
    got_u = _run(unfused, x, states)
    for a, b in zip(got_f[:6], got_u[:6]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert set(got_f[6]) == set(got_u[6]) and len(got_f[6]) == 4 * layers
    for name in got_f[6]:
        np.testing.assert_allclose(got_f[6][name], got_u[6][name], rtol=1e-5, atol=1e-5, err_msg=name)
    out_shape = (T, N, H) if layout == "TNC" else (N, T, H)
    assert got_f[0].shape == out_shape


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("T,N,C,H,layers", [(1, 2, 3, 4, 1), (6, 3, 4, 5, 2)])
def test_bidirectional_kernels_agree(T, N, C, H, layers, hybridize, ops):
    fused, unfused = _pair(T, C, H, layers, "TNC", bidirectional=True, ops=ops)
    if hybridize:
        fused.hybridize()
        unfused.hybridize()
    x = mx.nd.random.normal(shape=(T, N, C))
    states = [mx.nd.random.normal(shape=fused.state_shape(N)) for _ in range(2)]
    assert states[0].shape == (2 * layers, N, H) and fused.output_size == 2 * H
    got_f = _run(fused, x, states)
    got_u = _run(unfused, x, states)
    for a, b in zip(got_f[:6], got_u[:6]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert got_f[0].shape == (T, N, 2 * H) and len(got_f[6]) == 8 * layers
    for name in got_f[6]:
        np.testing.assert_allclose(got_f[6][name], got_u[6][name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_weights_are_named_and_shaped_like_gluon_lstm(bidirectional):
    ours = LSTM(6, 2, input_size=4, bidirectional=bidirectional, prefix="x_")
    stock = mx.gluon.rnn.LSTM(6, 2, input_size=4, bidirectional=bidirectional, prefix="x_")
    shapes = lambda block: {k: v.shape for k, v in block.collect_params().items()}
    assert shapes(ours) == shapes(stock)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_stock_gluon_lstm_weights_give_the_same_numbers(bidirectional):
    """Gate order and packing match gluon.rnn.LSTM (i, f, c, o), not just the names."""
    stock = mx.gluon.rnn.LSTM(5, 2, input_size=3, bidirectional=bidirectional, prefix="s_")
    stock.initialize(mx.init.Uniform(0.5))
    x = mx.nd.random.normal(shape=(4, 2, 3))
    rows = 4 if bidirectional else 2
    states = [mx.nd.random.normal(shape=(rows, 2, 5)) for _ in range(2)]
    expected, expected_states = stock(x, states)
    for backend in ("fused", "unfused"):
        ours = LSTM(5, 2, kernel=backend, input_size=3, bidirectional=bidirectional, prefix="s_")
        ours.initialize()
        for name, param in stock.collect_params().items():
            ours.collect_params()[name].set_data(param.data())
        got, got_states = ours(x, states)
        np.testing.assert_allclose(got.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)
        for a, b in zip(got_states, expected_states):
            np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("src,dst", [("fused", "unfused"), ("unfused", "fused")])
def test_params_file_loads_strictly_into_the_other_kernel(tmp_path, src, dst):
    writer = LSTM(8, 2, kernel=src, input_size=3, length=5)
    writer.initialize(mx.init.Xavier())
    x = mx.nd.random.normal(shape=(5, 2, 3))
    states = writer.begin_state(2)
    expected, _ = writer(x, states)
    path = str(tmp_path / "lstm.params")
    writer.save_parameters(path)
    reader = LSTM(8, 2, kernel=dst, input_size=3, length=5)
    reader.load_parameters(path)  # strict: allow_missing=False, ignore_extra=False
    got, _ = reader(x, states)
    np.testing.assert_allclose(got.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)


class _Wrapper(mx.gluon.HybridBlock):
    def __init__(self, backend, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.lstm = LSTM(4, 2, kernel=backend, input_size=3, length=6)

    def hybrid_forward(self, F, x, h, c):
        out, (h_n, c_n) = self.lstm(x, [h, c])
        return out, h_n, c_n


@pytest.mark.parametrize("backend", ["fused", "unfused"])
def test_both_kernels_hybridize_and_export(tmp_path, backend):
    block = _Wrapper(backend)
    block.initialize(mx.init.Xavier())
    block.hybridize()
    x = mx.nd.random.normal(shape=(6, 3, 3))
    h, c = block.lstm.begin_state(3)
    expected = block(x, h, c)
    block.export(str(tmp_path / "m"))
    loaded = mx.gluon.SymbolBlock.imports(str(tmp_path / "m-symbol.json"), ["data0", "data1", "data2"],
                                          str(tmp_path / "m-0000.params"))
    got = loaded(x, h, c)
    assert len(got) == 3
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6, atol=1e-6)
    ops = graph_operators((tmp_path / "m-symbol.json").read_text())
    assert ("RNN" in ops) == (backend == "fused")


def test_unfused_needs_a_static_length_to_hybridize_with_stock_operators():
    layer = LSTM(4, input_size=3, kernel="unfused", compiled_ops=False)
    layer.initialize()
    layer.hybridize()
    with pytest.raises(ValueError, match="length"):
        layer(mx.nd.ones((2, 1, 3)), layer.begin_state(1))


@pytest.mark.skipif(not native.available(), reason="needs gluon_seq's compiled operators")
def test_unfused_walking_layers_take_any_length_once_hybridized():
    """The layer operator walks however many steps it is given: a language model's
    unfused graph continues a prompt of any length, as the fused one does."""
    layer, fused = (LSTM(4, input_size=3, kernel=k, prefix="any_") for k in ("unfused", "fused"))
    layer.initialize(mx.init.Uniform(0.5))
    fused.initialize()
    fused.collect_params().load_dict({k: v.data() for k, v in layer.collect_params().items()})
    layer.hybridize()
    for steps in (2, 7, 1):
        x = mx.nd.random.normal(shape=(steps, 2, 3))
        got, want = layer(x, layer.begin_state(2)), fused(x, fused.begin_state(2))
        np.testing.assert_allclose(got[0].asnumpy(), want[0].asnumpy(), atol=1e-5)
        assert got[0].shape == (steps, 2, 4)


def test_auto_backend_is_fused_on_gpu_and_unfused_on_cpu():
    assert kernels.resolve("auto", mx.cpu()) == "unfused"
    assert kernels.resolve("auto", mx.gpu(0)) == "fused"  # a Context object needs no device
    assert kernels.resolve("fused", mx.cpu()) == "fused"
    with pytest.raises(ValueError, match="unknown RNN kernel 'cudnn'"):
        kernels.resolve("cudnn")


@pytest.mark.parametrize("backend", ["fused", "unfused"])
def test_numpy_gate_trace_reproduces_both_kernels(backend):
    from gluon_seq.rnn.gates import trace

    layer = LSTM(5, kernel=backend, input_size=3, prefix="trace_")
    layer.initialize(mx.init.Xavier())
    x = np.random.RandomState(0).randn(7, 2, 3).astype("float32")
    out, (h, c) = layer(mx.nd.array(x), layer.begin_state(2))
    traced = trace(layer, x)
    np.testing.assert_allclose(traced["hidden"], out.asnumpy(), atol=1e-5)
    np.testing.assert_allclose(traced["cell"][-1], c.asnumpy()[0], atol=1e-5)
    assert traced["forget_gate"].min() >= 0 and traced["forget_gate"].max() <= 1


@pytest.mark.parametrize("on_gpu", [False, True])
def test_fused_multi_layer_is_one_rnn_call_per_layer_on_cpu_and_one_on_gpu(monkeypatch, on_gpu):
    """oneDNN re-lays out a multi-layer call's weights on every call, so on the CPU
    each layer is its own RNN operator; cuDNN gets all layers in one."""
    import json

    layer = LSTM(4, 3, kernel="fused", input_size=3, dropout=0.5, prefix="deep_")
    layer.initialize()
    if on_gpu:
        for param in layer.collect_params().values():
            monkeypatch.setattr(param, "list_ctx", lambda: [mx.gpu(0)])
    out, (h, c) = layer(mx.sym.var("x"), [mx.sym.var("h"), mx.sym.var("c")])
    ops = [node["op"] for node in json.loads(out.tojson())["nodes"]]
    assert ops.count("RNN") == (1 if on_gpu else 3)
    assert ops.count("Dropout") == (0 if on_gpu else 2)  # between layers; inside RNN on GPU
    assert h.infer_shape(x=(5, 2, 3), h=(3, 2, 4), c=(3, 2, 4))[1] == [(3, 2, 4)]


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("T,N,C,H,layers,layout", [c for c in CASES if c[4] > 1])
def test_all_layers_in_one_rnn_call_the_gpu_path_agrees_on_the_cpu(T, N, C, H, layers, layout,
                                                                   hybridize):
    """What a GPU runs (every layer in one RNN operator), forced on the CPU: the
    same outputs, states and gradients as the unfused kernel."""
    fused, unfused = _pair(T, C, H, layers, layout)
    together = LSTM(H, layers, kernel="fused", layout=layout, input_size=C, length=T,
                    fused_calls="one", prefix="lstm_")
    together.initialize()
    for name, param in fused.collect_params().items():
        together.collect_params()[name].set_data(param.data())
    if hybridize:
        together.hybridize()
        unfused.hybridize()
    shape = (T, N, C) if layout == "TNC" else (N, T, C)
    x = mx.nd.random.uniform(-1, 1, shape=shape)
    states = [mx.nd.random.uniform(-1, 1, shape=(layers, N, H)) for _ in range(2)]
    got, want = _run(together, x, states), _run(unfused, x, states)
    for a, b in zip(got[:6], want[:6]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for name in want[6]:
        np.testing.assert_allclose(got[6][name], want[6][name], rtol=1e-5, atol=1e-5,
                                   err_msg=name)
    out, _ = together(mx.sym.var("x"), [mx.sym.var("h"), mx.sym.var("c")])
    assert [node["op"] for node in __import__("json").loads(out.tojson())["nodes"]].count(
        "RNN") == 1


def test_fused_calls_must_be_a_known_choice():
    with pytest.raises(ValueError, match="fused_calls"):
        LSTM(4, 2, kernel="fused", fused_calls="both")
