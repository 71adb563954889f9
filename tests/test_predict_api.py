"""The C predict API path that the mxnet runtime calls: same numbers as MXNet's own
executor, one bound graph per input shape, and the serving engine chosen only before
mxnet loads."""
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_seq.serving import predict_api
from gluon_seq.serving.predict_api import PredictGraph, params_bytes
from gluon_seq.util.runtime import configure_serving_engine


def _dense_graph():
    data = mx.sym.var("data")
    out = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    weights = {"fc_weight": mx.nd.array(np.arange(12).reshape(3, 4) / 10),
               "fc_bias": mx.nd.array([1.0, -1.0, 0.5])}
    return out, weights


def test_forward_matches_mxnet_at_every_batch_size():
    symbol, weights = _dense_graph()
    graph = PredictGraph(symbol.tojson(), params_bytes(weights, {}), ["data"], mx.cpu())
    for rows in (1, 5, 1):
        x = np.random.RandomState(rows).rand(rows, 4).astype(np.float32)
        expected = mx.nd.FullyConnected(mx.nd.array(x), weights["fc_weight"], weights["fc_bias"],
                                        num_hidden=3).asnumpy()
        (out,) = graph.forward([x])
        np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert len(graph._executors) == 2  # batch 1 bound once, reused


def test_executors_are_bounded(monkeypatch):
    monkeypatch.setattr(predict_api, "SHAPES_KEPT", 2)
    symbol, weights = _dense_graph()
    graph = PredictGraph(symbol.tojson(), params_bytes(weights, {}), ["data"], mx.cpu())
    for rows in (1, 2, 3, 4):
        graph.forward([np.ones((rows, 4), dtype=np.float32)])
    assert list(graph._executors) == [((3, 4),), ((4, 4),)]


def test_a_graph_its_params_do_not_fit_raises_mxnet_error():
    symbol, weights = _dense_graph()
    graph = PredictGraph(symbol.tojson(), params_bytes({"fc_weight": mx.nd.ones((2, 2))}, {}),
                         ["data"], mx.cpu())
    with pytest.raises(mx.base.MXNetError):
        graph.forward([np.ones((1, 4), dtype=np.float32)])


def test_the_serving_engine_is_chosen_only_before_mxnet_loads(monkeypatch):
    monkeypatch.delenv("MXNET_ENGINE_TYPE", raising=False)
    configure_serving_engine()  # mxnet is loaded in this process: nothing changes
    assert "MXNET_ENGINE_TYPE" not in os.environ
    probe = ("import os; from gluon_seq.util.runtime import configure_serving_engine as c; c(); "
             "import mxnet; print(os.environ['MXNET_ENGINE_TYPE'])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ})
    assert out.stdout.strip() == "NaiveEngine"
    chosen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, env={**os.environ,
                                             "MXNET_ENGINE_TYPE": "ThreadedEngine"})
    assert chosen.stdout.strip() == "ThreadedEngine"
