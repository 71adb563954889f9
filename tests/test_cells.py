"""Every cell (LSTM, GRU, plain RNN) is one layer under both kernels: the same
weights, the same numbers, the stock Gluon layer's weights and outputs.

Exports, serving and ONNX per cell are in test_cell_exports.py; LSTM-only
behaviour of the layer (per-layer fused calls, the length check, the compiled
operators' fallbacks) in test_layers.py and test_compiled_ops.py."""
import json

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from gluon_seq import tasks
from gluon_seq.serving.format import graph_operators
from gluon_seq.rnn import (CELLS, GRU, LSTM, RNN, LayerFactory, RecurrentLayer, cell_of,
                           compiled_ops, kernel_of, kernels, make_layer)
from gluon_seq.rnn.gates import trace

OPS = [pytest.param(None, id="compiled-ops"), pytest.param(False, id="stock-ops")]
STOCK = {"lstm": lambda *a, **k: mx.gluon.rnn.LSTM(*a, **k),
         "gru": lambda *a, **k: mx.gluon.rnn.GRU(*a, **k),
         "rnn_tanh": lambda *a, **k: mx.gluon.rnn.RNN(*a, activation="tanh", **k),
         "rnn_relu": lambda *a, **k: mx.gluon.rnn.RNN(*a, activation="relu", **k)}
# (T, N, C, H, layers, layout, bidirectional), fixed so failures replay.
CASES = [
    (1, 1, 1, 1, 1, "TNC", False),
    (5, 3, 4, 6, 1, "TNC", False),
    (7, 2, 3, 5, 2, "TNC", False),
    (4, 6, 9, 8, 1, "NTC", False),
    (9, 4, 5, 7, 2, "NTC", True),
    (6, 3, 4, 5, 2, "TNC", True),
]


def _layer(cell, kernel, T, C, H, layers, layout="TNC", bidirectional=False, ops=None, **kw):
    return make_layer(cell, H, num_layers=layers, kernel=kernel, layout=layout, input_size=C,
                      length=T, bidirectional=bidirectional, prefix="rec_", compiled_ops=ops,
                      **kw)


def _copy_params(source, *targets):
    for name, param in source.collect_params().items():
        for target in targets:
            target.collect_params()[name].set_data(param.data())


def _pair(cell, T, C, H, layers, layout, bidirectional, ops):
    fused, unfused = (_layer(cell, k, T, C, H, layers, layout, bidirectional, ops)
                      for k in ("fused", "unfused"))
    _init_with_biases(fused, unfused)
    return fused, unfused


def _init_with_biases(source, *targets):
    """Initialize ``source`` with random weights and biases (they start at zero
    by default; make them count, the GRU's b_hn above all), and copy them."""
    source.initialize(mx.init.Uniform(0.5))
    for param in source.collect_params().values():
        if param.name.endswith("bias"):
            param.set_data(mx.nd.random.uniform(-0.5, 0.5, shape=param.shape))
    for target in targets:
        target.initialize()
    _copy_params(source, *targets)


def _run(layer, x, states):
    """Outputs, final states, the input's and states' gradients and every
    parameter's gradient, under a loss that weighs each of them differently."""
    x, states = x.copy(), [s.copy() for s in states]
    for array in [x] + states:
        array.attach_grad()
    with autograd.record():
        out, final = layer(x, states)
        loss = (out * mx.nd.arange(1, out.size + 1).reshape(out.shape) / out.size).sum()
        for index, state in enumerate(final):
            loss = loss + (state * (0.7 + index * 0.6)).sum()
    loss.backward()
    grads = {name[len(layer.prefix):]: p.grad().asnumpy()
             for name, p in layer.collect_params().items()}
    arrays = [out] + list(final) + [x.grad] + [s.grad for s in states]
    return [a.asnumpy() for a in arrays], grads


def _assert_same(got, want):
    (arrays_a, grads_a), (arrays_b, grads_b) = got, want
    assert len(arrays_a) == len(arrays_b)
    for a, b in zip(arrays_a, arrays_b):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert set(grads_a) == set(grads_b)
    for name in grads_a:
        np.testing.assert_allclose(grads_a[name], grads_b[name], rtol=1e-5, atol=1e-5,
                                   err_msg=name)


def _inputs(layer, T, N, C, layout):
    x = mx.nd.random.normal(shape=(T, N, C) if layout == "TNC" else (N, T, C))
    states = [mx.nd.random.normal(shape=layer.state_shape(N)) for _ in range(layer.state_count)]
    return x, states


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("T,N,C,H,layers,layout,bidirectional", CASES)
@pytest.mark.parametrize("cell", CELLS)
def test_kernels_agree_on_outputs_states_and_every_gradient(cell, T, N, C, H, layers, layout,
                                                           bidirectional, hybridize, ops):
    fused, unfused = _pair(cell, T, C, H, layers, layout, bidirectional, ops)
    assert fused._compiled == unfused._compiled == (ops is None and compiled_ops.available())
    if hybridize:
        fused.hybridize()
        unfused.hybridize()
    x, states = _inputs(fused, T, N, C, layout)
    got = _run(fused, x, states)
    _assert_same(got, _run(unfused, x, states))
    dirs = 2 if bidirectional else 1
    assert len(got[1]) == 4 * layers * dirs
    out_shape = (T, N, H * dirs) if layout == "TNC" else (N, T, H * dirs)
    assert got[0][0].shape == out_shape
    assert [a.shape for a in got[0][1:1 + fused.state_count]] == [(layers * dirs, N, H)] * (
        2 if cell == "lstm" else 1)


@pytest.mark.usefixtures("needs_compiled_ops")
@pytest.mark.parametrize("T,N,H", [(6, 13, 70), (3, 32, 200)])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_layer_operators_agree_with_fused_at_their_gemm_sizes(cell, T, N, H):
    """Several 64-column panels with a part-filled last one, row blocks with a tail, and
    (N=32, H=200) a GEMM large enough to be shared among OpenMP threads; weights at the
    usual 1/sqrt(H) scale, so that float32 sums of 200 terms stay within 1e-5."""
    fused, unfused = _pair(cell, T, 10, H, 1, "TNC", False, None)
    mx.random.seed(4)
    fused.initialize(mx.init.Uniform(H ** -0.5), force_reinit=True)
    for param in fused.collect_params().values():
        if param.name.endswith("bias"):  # zero after initialize; the GRU's b_hn must count
            param.set_data(mx.nd.random.uniform(-0.2, 0.2, shape=param.shape))
    _copy_params(fused, unfused)
    x, states = _inputs(fused, T, N, 10, "TNC")
    _assert_same(_run(fused, x, states), _run(unfused, x, states))


@pytest.mark.usefixtures("needs_compiled_ops")
@pytest.mark.parametrize("kernel", ["fused", "unfused"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_compiled_and_stock_operators_agree(cell, kernel):
    """The compiled layer operators (unfused) and weight packing (fused) against stock
    operators, layer by layer: the same numbers, and the compiled op is in the graph."""
    compiled, stock = (_layer(cell, kernel, 6, 4, 7, 2, bidirectional=True, ops=ops)
                       for ops in (True, False))
    _init_with_biases(compiled, stock)
    x, states = _inputs(compiled, 6, 5, 4, "TNC")
    _assert_same(_run(compiled, x, states), _run(stock, x, states))
    symbols = [mx.sym.var(f"s{i}") for i in range(compiled.state_count)]
    want = {"unfused": {"lstm": compiled_ops.LAYER_OP, "gru": compiled_ops.GRU_LAYER_OP},
            "fused": {"lstm": compiled_ops.PACK_OP, "gru": compiled_ops.PACK_OP}}[kernel][cell]
    for layer, present in ((compiled, True), (stock, False)):
        out, _ = layer(mx.sym.var("x"), symbols)
        assert (want in graph_operators(out.tojson())) == present


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_weights_are_named_and_shaped_like_the_stock_gluon_layer(cell, bidirectional):
    ours = _layer(cell, "fused", 3, 4, 6, 2, bidirectional=bidirectional)
    stock = STOCK[cell](6, 2, input_size=4, bidirectional=bidirectional, prefix="rec_")
    shapes = lambda block: {k: v.shape for k, v in block.collect_params().items()}
    assert shapes(ours) == shapes(stock)
    assert ours.gate_count == {"lstm": 4, "gru": 3}.get(cell, 1)


@pytest.mark.parametrize("kernel", ["fused", "unfused"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_a_stock_gluon_params_file_loads_strictly_and_gives_the_same_numbers(
        tmp_path, cell, bidirectional, kernel):
    """Gate order, the reset gate's place and the packing match gluon.rnn, not just the names."""
    stock = STOCK[cell](5, 2, input_size=3, bidirectional=bidirectional, prefix="rec_")
    _init_with_biases(stock)
    path = str(tmp_path / "stock.params")
    stock.save_parameters(path)
    ours = _layer(cell, kernel, 4, 3, 5, 2, bidirectional=bidirectional)
    ours.load_parameters(path)  # strict: allow_missing=False, ignore_extra=False
    x, states = _inputs(ours, 4, 2, 3, "TNC")
    want_out, want_states = stock(x, states)
    got_out, got_states = ours(x, states)
    np.testing.assert_allclose(got_out.asnumpy(), want_out.asnumpy(), rtol=1e-5, atol=1e-6)
    want_states = want_states if isinstance(want_states, list) else [want_states]
    assert len(got_states) == len(want_states) == ours.state_count
    for a, b in zip(got_states, want_states):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("src,dst", [("fused", "unfused"), ("unfused", "fused")])
@pytest.mark.parametrize("cell", CELLS)
def test_a_params_file_trained_with_one_kernel_loads_into_the_other(tmp_path, cell, src, dst):
    writer = _layer(cell, src, 5, 3, 8, 2)
    writer.initialize(mx.init.Xavier())
    x, states = _inputs(writer, 5, 2, 3, "TNC")
    trainer = mx.gluon.Trainer(writer.collect_params(), "adam", {"learning_rate": 0.05})
    for _ in range(3):  # a few steps, so biases are no longer zero
        with autograd.record():
            loss = (writer(x, states)[0] ** 2).mean()
        loss.backward()
        trainer.step(1)
    expected, _ = writer(x, states)
    path = str(tmp_path / "layer.params")
    writer.save_parameters(path)
    reader = _layer(cell, dst, 5, 3, 8, 2)
    reader.load_parameters(path)
    got, _ = reader(x, states)
    np.testing.assert_allclose(got.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)
    assert np.abs(writer.l0_h2h_bias.data().asnumpy()).max() > 0


@pytest.mark.parametrize("kernel", ["fused", "unfused"])
@pytest.mark.parametrize("cell", CELLS)
def test_the_numpy_trace_reproduces_every_cell(cell, kernel):
    """gates.trace writes each cell's equations out in numpy (cells.py), so this
    checks the GRU's reset-after convention independently of MXNet."""
    layer = _layer(cell, kernel, 7, 3, 5, 1)
    layer.initialize(mx.init.Xavier())
    for param in (layer.l0_i2h_bias, layer.l0_h2h_bias):
        param.set_data(mx.nd.random.uniform(-1, 1, shape=param.shape))
    x = np.random.RandomState(0).randn(7, 2, 3).astype("float32")
    out, final = layer(mx.nd.array(x), layer.begin_state(2))
    traced = trace(layer, x)
    np.testing.assert_allclose(traced["hidden"], out.asnumpy(), atol=1e-5)
    np.testing.assert_allclose(traced["hidden"][-1], final[0].asnumpy()[0], atol=1e-5)
    if cell == "gru":
        # Folding b_hn into the input projection, as the LSTM does with every
        # recurrent bias, would be a different function: the check above would fail.
        assert np.abs(_gru_with_b_hn_folded(layer, x) - out.asnumpy()).max() > 1e-3


def _gru_with_b_hn_folded(layer, x):
    """The wrong GRU: n = tanh(W_in x + b_in + b_hn + r * W_hn h)."""
    read = lambda kind: getattr(layer, f"l0_{kind}").data().asnumpy().astype(np.float64)
    sig = lambda v: 1 / (1 + np.exp(-v))
    h, outs = np.zeros((x.shape[1], layer.hidden_size)), []
    for step in x:
        x_r, x_z, x_n = np.split(step @ read("i2h_weight").T + read("i2h_bias")
                                 + read("h2h_bias"), 3, axis=1)
        h_r, h_z, h_n = np.split(h @ read("h2h_weight").T, 3, axis=1)
        r, z = sig(x_r + h_r), sig(x_z + h_z)
        n = np.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs)


@pytest.mark.parametrize("cell", CELLS)
def test_layers_report_their_cell_state_count_and_begin_states(cell):
    layer = make_layer(cell, 4, input_size=2, num_layers=3, bidirectional=True)
    assert layer.cell == cell and isinstance(layer, RecurrentLayer)
    assert layer.state_count == (2 if cell == "lstm" else 1)
    states = layer.begin_state(5)
    assert len(states) == layer.state_count and states[0].shape == (6, 5, 4)
    assert type(layer) is {"lstm": LSTM, "gru": GRU}.get(cell, RNN)
    assert layer.prefix.startswith({"lstm": "lstm", "gru": "gru"}.get(cell, "rnn"))


def test_a_layer_given_the_wrong_number_of_states_says_so():
    layer = GRU(4, input_size=2)
    layer.initialize()
    with pytest.raises(ValueError, match="gru layer takes 1 state"):
        layer(mx.nd.ones((3, 1, 2)), LSTM(4).begin_state(1))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kernel", ["fused", "unfused"])
def test_the_factory_makes_the_cell_and_kernel_asked_for(cell, kernel):
    factory = LayerFactory(kernel, ctx=mx.cpu(), cell=cell)
    model = tasks.get("arithmetic")().build_model(factory)
    assert cell_of(model) == cell and kernel_of(model) == kernel
    assert all(child.cell == cell for child in (model.encoder, model.decoder))
    assert len(model.begin_state(3)) == 2 * (2 if cell == "lstm" else 1)
    assert repr(factory) == f"LayerFactory(kernel={kernel!r}, cell={cell!r})"


def test_unknown_cells_and_activations_are_one_sentence():
    with pytest.raises(ValueError, match="unknown recurrent cell 'lstmp'; choose one of lstm, gru"):
        LayerFactory("fused", cell="lstmp")
    with pytest.raises(ValueError, match="activation must be 'tanh' or 'relu'"):
        RNN(4, activation="sigmoid")


def test_a_block_without_recurrent_layers_reads_as_the_defaults():
    block = mx.gluon.nn.Dense(3)
    assert cell_of(block) == "lstm" and kernel_of(block) == kernels.EXPORT_DEFAULT


def test_a_model_mixing_cells_is_refused_naming_them():
    block = mx.gluon.nn.HybridSequential()
    block.add(LSTM(3, input_size=2), GRU(3, input_size=3))
    with pytest.raises(ValueError, match=r"mixes recurrent cells \(gru, lstm\)"):
        cell_of(block)


def test_lstm_bias_initializers_mean_zeros_for_cells_without_a_forget_gate():
    for cell in CELLS:
        layer = make_layer(cell, 4, input_size=2,
                           i2h_bias_initializer=mx.init.LSTMBias(forget_bias=1.0))
        layer.initialize()
        bias = layer.l0_i2h_bias.data().asnumpy()
        assert bias.sum() == (4.0 if cell == "lstm" else 0.0), cell



@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_narrow_cpu_call_pads_its_units_to_16_with_the_same_numbers(cell, bidirectional):
    """oneDNN's LSTM and GRU are fast only at multiples of 16 units (fused.py): the
    padded call gives the unpadded call's outputs, states and gradients, and exports keep H."""
    layers = [_layer(cell, "fused", 5, 3, 7, 2, bidirectional=bidirectional, pad_units=pad)
              for pad in (True, False)]
    _init_with_biases(*layers)
    x, states = _inputs(layers[0], 5, 4, 3, "TNC")
    padded = _run(layers[0], x, states)
    sizes = lambda layer: {node["attrs"]["state_size"] for node in json.loads(layer(
        mx.sym.var("x"), [mx.sym.var(f"s{i}") for i in range(layer.state_count)])[0].tojson()
    )["nodes"] if node["op"] == "RNN"}
    assert sizes(layers[0]) == {"16"}
    _assert_same(padded, _run(layers[1], x, states))
    assert sizes(layers[1]) == {"7"}
    assert sizes(_layer(cell, "fused", 5, 3, 7, 2, bidirectional=bidirectional,
                        portable=True)) == {"7"}
    assert sizes(make_layer(cell, 32, kernel="fused", input_size=3)) == {"32"}
    wide = {"gru": 500, "lstm": 50}[cell]  # from PAD_BELOW on, never padded
    assert sizes(make_layer(cell, wide, kernel="fused", input_size=3)) == {str(wide)}
    assert sizes(make_layer("rnn_tanh", 7, kernel="fused", input_size=3)) == {"7"}
