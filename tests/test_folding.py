"""serving/folding.py: what a graph computes from its weights alone is computed once, at
load, and the answers do not change."""
import json

import mxnet as mx
import numpy as np
import pytest

from gluon_seq import tasks
from gluon_seq.serving import load_predictor
from gluon_seq.rnn import compiled_ops
from gluon_seq.serving.folding import FOLDED, fold, prepack
from gluon_seq.serving.format import PARAMS_FILE, SYMBOL_FILE

PER_CALL = {"_rnn_param_concat", "_gs_pack"}


def _ops(symbol):
    return [n["op"] for n in json.loads(symbol.tojson())["nodes"] if n["op"] != "null"]


@pytest.mark.parametrize("name", ["ptb", "arithmetic"])
def test_the_weight_packing_is_folded_and_the_answers_stay(name, tmp_path, export_untrained):
    task = tasks.get(name).tiny(tmp_path)
    task.prepare()
    _, folder = export_untrained(task, tmp_path / "export")
    symbol = mx.sym.load(str(folder / SYMBOL_FILE))
    weights = {k.split(":", 1)[1]: v for k, v in mx.nd.load(str(folder / PARAMS_FILE)).items()}
    inputs = [s["name"] for s in json.loads((folder / "meta.json").read_text())["inputs"]]
    folded, kept = fold(symbol, weights, inputs)
    assert PER_CALL & set(_ops(symbol)) and not PER_CALL & set(_ops(folded))
    assert any(k.startswith(FOLDED) for k in kept) and not set(inputs) & set(kept)
    assert set(folded.list_arguments()) <= set(kept) | set(inputs)
    # The predictor serves the folded graph; a plain SymbolBlock of the file is the reference.
    reference = mx.gluon.SymbolBlock.imports(str(folder / SYMBOL_FILE), inputs,
                                             str(folder / PARAMS_FILE))
    model = load_predictor(folder, graph="portable")
    arrays = model.codec.encode(task.example_inputs())
    feed = [mx.nd.array(a) for a in list(arrays) + model.zero_states(len(arrays[0]))]
    want = reference(*feed)
    want = want if isinstance(want, (list, tuple)) else [want]
    for got, expected in zip(model.run(arrays), want):
        np.testing.assert_allclose(got, expected.asnumpy(), rtol=1e-6, atol=1e-7)


def test_random_operators_are_never_folded():
    weight = mx.sym.var("w")
    noisy = mx.sym.Dropout(weight * 2, p=0.5, mode="always") + mx.sym.var("data")
    folded, kept = fold(noisy, {"w": mx.nd.ones((2,))}, ["data"])
    assert "Dropout" in _ops(folded) and "_mul_scalar" not in _ops(folded)  # w * 2 went
    assert [k for k in kept if k.startswith(FOLDED)] and "w" not in kept


@pytest.mark.usefixtures("needs_compiled_ops")
@pytest.mark.parametrize("flatten", [False, True])
def test_prepack_reads_large_weights_packed_once_with_the_same_answers(flatten):
    """A compiled graph's layer operator and large FullyConnected read their weights
    through _gs_panels, which folding computes once; a small FullyConnected stays."""
    rng = np.random.RandomState(0)
    H, V = 70, 1000  # an output weight of V x H = 70,000 elements, past DENSE_MIN
    data, h0, c0 = mx.sym.var("data"), mx.sym.var("h0"), mx.sym.var("c0")
    gates = mx.sym.FullyConnected(data, mx.sym.var("wx"), mx.sym.var("bx"), num_hidden=4 * H,
                                  flatten=False)
    steps = getattr(mx.sym._internal, compiled_ops.LAYER_OP)(gates, h0, c0, mx.sym.var("wh"))[0]
    out = mx.sym.FullyConnected(steps, mx.sym.var("wo"), mx.sym.var("bo"), num_hidden=V,
                                flatten=flatten)
    # flatten: each of the 5 steps' (2, H) states is one row of 2H
    weights = {"wx": (4 * H, 3), "bx": (4 * H,), "wh": (4 * H, H),
               "wo": (V, 2 * H if flatten else H), "bo": (V,)}
    weights = {k: mx.nd.array(rng.uniform(-0.3, 0.3, shape)) for k, shape in weights.items()}
    feed = {"data": mx.nd.array(rng.randn(5, 2, 3)), "h0": mx.nd.array(rng.randn(2, H)),
            "c0": mx.nd.array(rng.randn(2, H))}
    packed, kept = fold(prepack(out, weights), weights, list(feed))
    ops = _ops(packed)
    assert compiled_ops.DENSE_OP in ops and ops.count("FullyConnected") == 1  # the small one
    assert compiled_ops.PANELS_OP not in ops and "wh" not in kept and "wo" not in kept
    node = [n for n in json.loads(packed.tojson())["nodes"] if n["op"] == compiled_ops.LAYER_OP]
    assert node[0]["attrs"]["packed"] == "1"
    got = packed.bind(mx.cpu(), dict(feed, **kept)).forward()[0]
    want = out.bind(mx.cpu(), dict(feed, **weights)).forward()[0]
    np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-5)
