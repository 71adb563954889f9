"""export --quantize int8: an int8 graph calibrated on the run's validation split, served
by the mxnet runtime by default, its output layer int8 and its recurrent layer fp32, with
the test metric reported for both."""
import json
import shutil

import mxnet as mx
import numpy as np
import pytest

import gluon_seq
from gluon_seq import RunConfig, UserError
from gluon_seq.exporting import quantize
from gluon_seq.rnn import compiled_ops
from gluon_seq.serving.format import INT8_SYMBOL_FILE
from gluon_seq.serving.predictors import MXNetPredictor

TINY = {"train_samples": 256, "valid_samples": 64, "test_samples": 64}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8")
    config = RunConfig.for_task("arithmetic", epochs=2, batch_size=32, options=dict(TINY))
    gluon_seq.train(config, folder, log=lambda line: None)
    return folder


def test_int8_export_reports_both_metrics_and_serves_int8_by_default(run):
    lines = []
    folder = gluon_seq.export(run, quantize="int8", log=lines.append)
    assert any("recurrent layer stays fp32" in line for line in lines)
    [reported] = [line for line in lines if " in int8" in line]
    operators = {n["op"] for n in json.loads((folder / INT8_SYMBOL_FILE).read_text())["nodes"]}
    assert "RNN" in operators and "_contrib_quantized_rnn" not in operators
    assert any("quantize" in op for op in operators)  # the output layer reads int8
    int8, fp32 = MXNetPredictor(folder), MXNetPredictor(folder, graph="portable")
    assert int8.graph == "int8"
    batch = np.random.RandomState(0).randint(1, 12, size=(16, 8)).astype(np.float32)
    got, expected = int8.run([batch])[0], fp32.run([batch])[0]
    assert not np.array_equal(got, expected)  # it is another graph ...
    assert np.mean(got.argmax(-1) == expected.argmax(-1)) > 0.95  # ... with the same answers
    scores = [float(word) for word in reported.replace(",", " ").split() if word[0].isdigit()]
    assert abs(scores[0] - scores[1]) <= 0.05, reported


def test_a_new_export_drops_an_old_int8_graph(run):
    gluon_seq.export(run, quantize="int8", log=lambda line: None)
    folder = gluon_seq.export(run, log=lambda line: None)
    assert not (folder / INT8_SYMBOL_FILE).exists()  # never int8 of older weights
    with pytest.raises(UserError, match="--quantize int8"):
        MXNetPredictor(folder, graph="int8")


def test_only_int8_is_offered(run):
    with pytest.raises(UserError, match="int8"):
        gluon_seq.export(run, quantize="int4")


def test_a_graph_without_an_output_layer_is_refused(tmp_path, monkeypatch, run):
    folder = tmp_path / "export"
    shutil.copytree(run / "export", folder)
    data = mx.sym.var("data0")
    monkeypatch.setattr(mx.sym, "load", lambda path: data * 2)
    with pytest.raises(UserError, match="no FullyConnected layer"):
        quantize.quantize(folder, None, 32)


@pytest.fixture(scope="module")
def language_model(tmp_path_factory):
    """(export folder, the lines its int8 export logged) of a small PTB run."""
    from gluon_seq.data.generated import write_synthetic_corpus

    root = tmp_path_factory.mktemp("lm")
    corpus = write_synthetic_corpus(root / "corpus")
    # 64 units: the compiled graph walks its layers, and the int8 graph is quantized from it.
    options = {"embed": 16, "hidden": 64, "num_steps": 5, "dropout": 0.0, "corpus": str(corpus)}
    config = RunConfig.for_task("ptb", epochs=2, batch_size=4, options=options)
    gluon_seq.train(config, root / "run", log=lambda line: None)
    lines = []
    return gluon_seq.export(root / "run", quantize="int8", log=lines.append), lines


def test_a_language_model_is_calibrated_on_its_corpus_and_keeps_its_perplexity(language_model):
    """PTB reads its corpus in prepare(), which the export must run to calibrate; its
    state is carried from batch to batch in the int8 evaluation as in fp32.  Its recurrent
    layers stay the compiled graph's fp32 layer operators."""
    folder, lines = language_model
    [reported] = [line for line in lines if " in int8" in line]
    fp32, int8 = (float(w) for w in reported.replace(",", " ").split() if w[0].isdigit())
    assert abs(int8 - fp32) / fp32 < 0.05, reported
    operators = {n["op"] for n in json.loads((folder / INT8_SYMBOL_FILE).read_text())["nodes"]}
    assert compiled_ops.LAYER_OP in operators and "RNN" not in operators
    served = MXNetPredictor(folder)
    assert served.graph == "int8"
    words = np.random.RandomState(0).randint(0, 20, size=(3, 5)).astype(np.float32)
    got, expected = served.run([words])[0], MXNetPredictor(folder, graph="portable").run([words])[0]
    assert np.mean(got.argmax(-1) == expected.argmax(-1)) > 0.9


def test_an_int8_graph_on_compiled_operators_needs_them(language_model, monkeypatch):
    """Where the compiled operators do not load, ``auto`` serves fp32 and ``int8`` says why."""
    folder, _ = language_model
    monkeypatch.setattr(compiled_ops, "available", lambda: False)
    monkeypatch.setattr(compiled_ops, "unavailable_reason", lambda: "no compiler here")
    assert MXNetPredictor(folder).graph == "portable"
    with pytest.raises(UserError, match="no compiler here") as info:
        MXNetPredictor(folder, graph="int8")
    assert "\n" not in str(info.value)


def test_each_fully_connected_reads_a_weight_and_bias_the_quantizer_recognises():
    data = mx.sym.var("data")
    graph = mx.sym.FullyConnected(mx.sym.FullyConnected(data, mx.sym.var("folded_plus0_0"),
                                                        mx.sym.var("b"), num_hidden=3),
                                  mx.sym.var("out_weight"), no_bias=True, num_hidden=2)
    weights = {"folded_plus0_0": mx.nd.ones((3, 4)), "b": mx.nd.arange(3),
               "out_weight": mx.nd.ones((2, 3))}
    renamed, values = quantize._named_for_quantizer(graph, weights)
    assert renamed.list_arguments() == ["data", "folded_plus0_0_weight", "b_bias", "out_weight"]
    assert set(values) == set(renamed.list_arguments()) - {"data"}
    assert values["b_bias"] is weights["b"] and "b" in weights  # the caller's dict is kept
    x = mx.nd.ones((1, 4))
    assert np.array_equal(graph.eval(data=x, **weights)[0].asnumpy(),
                          renamed.eval(data=x, **values)[0].asnumpy())


@pytest.fixture(scope="module")
def entnet_run(tmp_path_factory):
    from gluon_seq.data.generated import write_qa1_tarball

    folder = tmp_path_factory.mktemp("entnet")
    options = {"model": "entnet", "subset": "en", "embed": 8, "slots": 3,
               "tarball": str(write_qa1_tarball(folder / "qa1.tar.gz"))}
    gluon_seq.train(RunConfig.for_task("babi", epochs=1, options=options), folder / "run",
                    log=lambda line: None)
    return folder / "run"


def test_entnet_weights_named_otherwise_are_quantized(entnet_run, tmp_path):
    """EntNet's FullyConnected weights are not named ``*weight``; renamed, they get int8 values."""
    run = tmp_path / "run"
    shutil.copytree(entnet_run, run)
    lines = []
    folder = gluon_seq.export(run, quantize="int8", log=lines.append)
    [reported] = [line for line in lines if " in int8" in line]
    fp32, int8 = (float(w) for w in reported.replace(",", " ").split() if w[0].isdigit())
    assert abs(int8 - fp32) <= 0.05, reported
    nodes = json.loads((folder / INT8_SYMBOL_FILE).read_text())["nodes"]
    assert any(n.get("attrs", {}).get("quantized") == "True" for n in nodes)  # int8 layers
    assert MXNetPredictor(folder).graph == "int8"


def test_a_model_the_quantizer_leaves_without_weights_is_refused_and_keeps_fp32(
        entnet_run, tmp_path, monkeypatch):
    """Without the renaming, MXNet's quantizer gives EntNet's int8 graph no int8 weights:
    refused in one sentence, nothing written, the folder still served in fp32."""
    shutil.copytree(entnet_run, tmp_path / "run")
    monkeypatch.setattr(quantize, "_named_for_quantizer", lambda symbol, weights: (symbol, weights))
    with pytest.raises(UserError, match="cannot be quantized") as info:
        gluon_seq.export(tmp_path / "run", quantize="int8", log=lambda line: None)
    assert "\n" not in str(info.value)
    folder = tmp_path / "run" / "export"
    assert not (folder / INT8_SYMBOL_FILE).exists()
    assert MXNetPredictor(folder).graph != "int8"
