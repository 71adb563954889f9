"""The export's second graph, traced with gluon_seq's compiled operators: it reads the
portable graph's params and gives its outputs, the mxnet runtime runs it when the
operators load and the portable graph when they do not or when asked.  Folders
written before it existed: test_legacy_runs.py."""
import shutil

import mxnet as mx
import numpy as np
import pytest

from gluon_seq import tasks
from gluon_seq.cli import main as gluon_seq
from gluon_seq.util.errors import UserError
from gluon_seq.exporting.writer import export_model
from gluon_seq.serving.format import COMPILED_SYMBOL_FILE, SYMBOL_FILE, graph_operators
from gluon_seq.rnn import LayerFactory, compiled_ops
from gluon_seq.serving import load_predictor
from gluon_seq.serving.batching import load_workers
from gluon_seq.serving.mms import GluonSeqService
from gluon_seq.serving.predictors import MXNetPredictor
from test_mms import FakeContext

CASES = [(name, kernel) for name in tasks.names() for kernel in ("fused", "unfused")
         if kernel == "fused" or tasks.get(name).fixed_length]


def _export(name, folder, kernel="fused", cell="lstm", **options):
    data = folder.parent / "data"
    data.mkdir(exist_ok=True)
    task = tasks.get(name).tiny(data, **options)
    task.prepare()
    model = task.build_model(LayerFactory(kernel, ctx=mx.cpu(), cell=cell))
    model.initialize(task.initializer())
    return task, export_model(task, model, folder)


def _operators(path):
    return graph_operators(path.read_text()) & set(compiled_ops.OPS)


def _arguments(path):
    symbol = mx.sym.load(str(path))
    return sorted(symbol.list_arguments() + symbol.list_auxiliary_states())  # fed by name


@pytest.fixture(scope="module")
def arith(tmp_path_factory):
    return _export("arithmetic", tmp_path_factory.mktemp("compiled") / "export")[1]


@pytest.mark.usefixtures("needs_compiled_ops")
@pytest.mark.parametrize("name,kernel", CASES)
def test_the_compiled_graph_reads_the_same_params_and_gives_the_same_outputs(name, kernel,
                                                                             tmp_path):
    task, folder = _export(name, tmp_path / "export", kernel)
    assert _operators(folder / COMPILED_SYMBOL_FILE)
    assert not _operators(folder / SYMBOL_FILE)  # the portable graph is as before
    assert _arguments(folder / COMPILED_SYMBOL_FILE) == _arguments(folder / SYMBOL_FILE)
    compiled, portable = MXNetPredictor(folder), MXNetPredictor(folder, graph="portable")
    assert (compiled.graph, portable.graph) == ("compiled", "portable")
    arrays = task.codec().encode(task.example_inputs())
    for a, b in zip(compiled.run(arrays), portable.run(arrays), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert compiled.predict(task.example_inputs()) == portable.predict(task.example_inputs())


@pytest.mark.usefixtures("needs_compiled_ops")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("units,walks", [(8, False), (64, True)])
def test_a_fused_runs_compiled_graph_walks_wide_layers_with_packed_weights(tmp_path, cell, units,
                                                                          walks):
    """From kernels.WALK_MIN_UNITS units the compiled graph holds the layer operator,
    whose recurrent weight the predictor packs once; the language model then answers
    inputs of any length as the portable graph does."""
    task, folder = _export("ptb", tmp_path / "export", cell=cell, hidden=units)
    layer_op = {"lstm": compiled_ops.LAYER_OP, "gru": compiled_ops.GRU_LAYER_OP}[cell]
    assert (layer_op in _operators(folder / COMPILED_SYMBOL_FILE)) == walks
    compiled, portable = MXNetPredictor(folder), MXNetPredictor(folder, graph="portable")
    assert compiled.graph == "compiled"
    for words in (1, 4, 9):
        arrays = [np.ones((2, words), dtype="float32")]
        for a, b in zip(compiled.run(arrays), portable.run(arrays), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.usefixtures("needs_compiled_ops")
def test_a_gru_compiled_graph_with_padded_units_gives_the_same_outputs(tmp_path):
    task, folder = _export("count-ones", tmp_path / "export", cell="gru")
    arrays = task.codec().encode(task.example_inputs())
    for a, b in zip(MXNetPredictor(folder).run(arrays),
                    MXNetPredictor(folder, graph="portable").run(arrays), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.usefixtures("needs_compiled_ops")
def test_a_trace_without_compiled_operators_writes_no_second_graph(tmp_path):
    # The plain RNN cell's unfused steps have no compiled operator.
    _, folder = _export("count-ones", tmp_path / "export", kernel="unfused", cell="rnn_tanh")
    assert not (folder / COMPILED_SYMBOL_FILE).exists()
    assert MXNetPredictor(folder).graph == "portable"


def test_where_the_operators_cannot_load_export_writes_the_portable_graph_only(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(compiled_ops, "available", lambda: False)
    _, folder = _export("arithmetic", tmp_path / "export")
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "model-0000.params",
                                                        SYMBOL_FILE]


@pytest.mark.usefixtures("needs_compiled_ops")
def test_the_predictor_runs_the_portable_graph_where_the_operators_do_not_load(arith,
                                                                              monkeypatch):
    want = MXNetPredictor(arith).predict(["7*3*2"])
    monkeypatch.setattr(compiled_ops, "available", lambda: False)
    model = load_predictor(arith)
    assert model.graph == "portable" and model.predict(["7*3*2"]) == want
    with pytest.raises(UserError, match="compiled operators are unavailable"):
        MXNetPredictor(arith, graph="compiled")


@pytest.mark.usefixtures("needs_compiled_ops")
def test_the_portable_graph_can_be_forced_from_code_and_from_predict(arith, capsys):
    assert load_predictor(arith, "mxnet", graph="portable").graph == "portable"
    assert gluon_seq(["predict", str(arith), "7*3*2"]) == 0
    auto = capsys.readouterr().out
    assert gluon_seq(["predict", str(arith), "--graph", "portable", "7*3*2"]) == 0
    assert capsys.readouterr().out == auto
    assert gluon_seq(["predict", str(arith), "--graph", "portable", "--backend", "onnxruntime",
                      "7*3*2"]) == 2
    assert "--graph" in capsys.readouterr().err
    with pytest.raises(UserError, match="graph must be one of"):
        MXNetPredictor(arith, graph="fast")


@pytest.mark.usefixtures("needs_compiled_ops")
def test_http_workers_and_the_mms_handler_run_the_compiled_graph(arith):
    (worker,) = load_workers([arith]).values()
    try:
        assert worker.describe()["graph"] == "compiled"
    finally:
        worker.thread.shutdown()
    service = GluonSeqService()
    service.initialize(FakeContext(arith))
    assert service.model.graph == "compiled"


@pytest.mark.usefixtures("needs_compiled_ops")
@pytest.mark.parametrize("damage", [lambda data: data[:len(data) // 2], lambda data: b"",
                                    lambda data: b'{"nodes": 3}'])
def test_a_damaged_compiled_graph_is_a_one_line_error_naming_it(arith, tmp_path, damage):
    copy = tmp_path / "export"
    shutil.copytree(arith, copy)
    path = copy / COMPILED_SYMBOL_FILE
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(UserError, match=COMPILED_SYMBOL_FILE) as info:
        MXNetPredictor(copy)
    assert "\n" not in str(info.value)
    assert MXNetPredictor(copy, graph="portable").predict(["7*3*2"])  # the way round it


@pytest.mark.usefixtures("needs_compiled_ops")
def test_a_failed_compiled_trace_leaves_the_old_folder_and_no_staging(arith, tmp_path,
                                                                     monkeypatch):
    import gluon_seq.exporting.writer as export

    copy = tmp_path / "export"
    shutil.copytree(arith, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "_compiled_graph", broken)
    task = tasks.get("arithmetic").tiny(tmp_path)
    task.prepare()
    model = task.build_model(LayerFactory("fused"))
    model.initialize(task.initializer())
    with pytest.raises(RuntimeError, match="disk full"):
        export_model(task, model, copy)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
