"""Every cell's models export, predict, serve over HTTP and convert to ONNX
(onnxruntime against MXNet to 1e-5); the LSTM's are in test_all_tasks.py."""
import json

import mxnet as mx
import numpy as np
import pytest

from gluon_seq import tasks
from gluon_seq.util.errors import UserError
from gluon_seq.exporting.writer import export_model
from gluon_seq.serving.format import graph_operators
from gluon_seq.rnn import CELLS, LayerFactory, kernels, make_layer
from gluon_seq.serving import load_predictor
from test_cells import _init_with_biases, _inputs

def _tiny(name, tmp_path, **options):
    task_cls = tasks.get(name)
    task = task_cls.tiny(tmp_path)
    if options:
        task.options = task_cls.make_options(dict(task_cls.tiny_options, **options))
    task.prepare()
    return task


def _export(task, cell, folder, kernel="fused"):
    model = task.build_model(LayerFactory(kernel, ctx=mx.cpu(), cell=cell))
    model.initialize(task.initializer())
    return model, export_model(task, model, folder)


def _live_outputs(task, model):
    arrays = task.codec().encode(task.example_inputs())
    live = model(*[mx.nd.array(a) for a in arrays], *model.begin_state(len(arrays[0])))
    return arrays, [o.asnumpy() for o in (live if isinstance(live, (list, tuple)) else [live])]


@pytest.mark.parametrize("cell", [c for c in CELLS if c != "lstm"])  # lstm: test_all_tasks.py
@pytest.mark.parametrize("name", tasks.names())
def test_every_task_exports_predicts_and_converts_to_onnx_with_every_cell(name, cell,
                                                                          tmp_path):
    task = _tiny(name, tmp_path)
    model, folder = _export(task, cell, tmp_path / "export")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["cell"] == cell and meta["rnn_backend"] == "fused"
    assert [s["role"] for s in meta["inputs"]].count("state") == len(model.begin_state(1))
    arrays, live = _live_outputs(task, model)
    exported = load_predictor(folder)
    for a, b in zip(exported.run(arrays), live):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert exported.predict(task.example_inputs())
    _assert_onnx_matches(folder, arrays)


def _assert_onnx_matches(folder, arrays):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from gluon_seq.exporting.onnx import export_onnx

    export_onnx(folder)
    want = load_predictor(folder, "mxnet").run(arrays)
    got = load_predictor(folder, "onnxruntime").run(arrays)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert json.loads((folder / "onnx.json").read_text())["max_abs_diff_vs_mxnet"] < 1e-5


class _Bidirectional(mx.gluon.HybridBlock):
    def __init__(self, cell, portable=False, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.layer = make_layer(cell, 5, num_layers=2, bidirectional=True, input_size=3,
                                    kernel="fused", portable=portable, prefix="bi_")

    def hybrid_forward(self, F, x, *states):
        out, final = self.layer(x, list(states))
        return (out, *final)


@pytest.mark.parametrize("cell", CELLS)
def test_a_bidirectional_layer_of_every_cell_exports_and_converts_to_onnx(cell, tmp_path):
    """mx2onnx converts a GRU or RNN node one direction at a time, so an export
    (a portable graph) runs each direction as its own RNN node; training keeps one per layer."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from gluon_seq.exporting.onnx import _fix_graph

    block = _Bidirectional(cell)
    _init_with_biases(block)
    x, states = _inputs(block.layer, 6, 2, 3, "TNC")
    want = [a.asnumpy() for a in block(x, *states)]
    rnn_nodes = lambda graph: sum(node["op"] == "RNN" for node in json.loads(graph)["nodes"])
    traced = block(mx.sym.var("x"), *[mx.sym.var(f"s{i}") for i in range(len(states))])
    assert rnn_nodes(traced[0].tojson()) == 2  # training: one node per layer
    portable = _Bidirectional(cell, portable=True, params=block.collect_params())
    portable.hybridize()
    got = portable(x, *states)
    portable.export(str(tmp_path / "m"))
    assert rnn_nodes((tmp_path / "m-symbol.json").read_text()) == (2 if cell == "lstm" else 4)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "m.onnx")
    mx.onnx.export_model(str(tmp_path / "m-symbol.json"), str(tmp_path / "m-0000.params"),
                         in_shapes=[a.shape for a in [x] + states],
                         in_types=[np.float32] * (1 + len(states)), onnx_file_path=path)
    model = onnx.load(path)
    _fix_graph(model)
    onnx.save(model, path)
    session = ort.InferenceSession(path)
    feed = {i.name: a.asnumpy() for i, a in zip(session.get_inputs(), [x] + states)}
    for a, b in zip(session.run(None, feed), want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_exports_unfused_for_the_mxnet_runtime_and_onnx_refuses_it(cell, tmp_path):
    task = _tiny("arithmetic", tmp_path)
    model, folder = _export(task, cell, tmp_path / "export", kernel="unfused")
    arrays, live = _live_outputs(task, model)
    np.testing.assert_allclose(load_predictor(folder).run(arrays)[0], live[0], rtol=1e-6,
                               atol=1e-6)
    assert "RNN" not in graph_operators((folder / "model-symbol.json").read_text())
    pytest.importorskip("onnx")
    from gluon_seq.exporting.onnx import export_onnx

    with pytest.raises(UserError, match="re-export with --rnn-backend fused"):
        export_onnx(folder)


def test_only_the_fused_kernel_converts_to_onnx_and_serves_any_length():
    assert kernels.refusal("fused", onnx=True) is None
    assert "re-export with --rnn-backend fused" in kernels.refusal("unfused", onnx=True)
    assert "fixed number of steps" in kernels.refusal("unfused", fixed_length=False)
    assert kernels.serving_kernels(onnx=True) == ["fused"]
    assert kernels.serving_kernels(fixed_length=False) == ["fused"]
    assert kernels.serving_kernels() == ["fused", "unfused"]


@pytest.mark.filterwarnings("ignore:Using `httpx` with")
@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_serves_over_http_with_the_exports_answers(cell, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from gluon_seq.serving.http import create_app

    served = {}
    for name in ("arithmetic", "ptb"):  # ptb: a model that carries its state, generating
        task = _tiny(name, tmp_path / name)
        _, served[name] = _export(task, cell, tmp_path / name / "export")
    texts = ["7*3*2", "10+10+10"]
    request = {"prompt": "the", "words": 3, "temperature": 0}
    with TestClient(create_app(list(served.values()))) as client:
        arith = client.post("/predict/arithmetic", json={"inputs": texts})
        words = client.post("/predict/ptb", json={"inputs": [request]})
    assert arith.status_code == 200 and words.status_code == 200, (arith.text, words.text)
    assert arith.json()["outputs"] == load_predictor(served["arithmetic"]).predict(texts)
    assert words.json()["outputs"] == load_predictor(served["ptb"]).predict([request])
