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


def test_a_language_model_is_calibrated_on_its_corpus_and_keeps_its_perplexity(tmp_path):
    """PTB reads its corpus in prepare(), which the export must run to calibrate; its
    state is carried from batch to batch in the int8 evaluation as in fp32."""
    from gluon_seq.data.generated import write_synthetic_corpus

    corpus = write_synthetic_corpus(tmp_path / "corpus")
    options = {"embed": 16, "hidden": 32, "num_steps": 5, "dropout": 0.0, "corpus": str(corpus)}
    config = RunConfig.for_task("ptb", epochs=2, batch_size=4, options=options)
    gluon_seq.train(config, tmp_path / "run", log=lambda line: None)
    lines = []
    gluon_seq.export(tmp_path / "run", quantize="int8", log=lines.append)
    [reported] = [line for line in lines if " in int8" in line]
    fp32, int8 = (float(w) for w in reported.replace(",", " ").split() if w[0].isdigit())
    assert abs(int8 - fp32) / fp32 < 0.05, reported


def test_a_model_the_quantizer_leaves_without_weights_is_refused_and_keeps_fp32(tmp_path):
    """MXNet's quantizer gives EntNet's int8 graph no int8 weights: refused in one sentence,
    nothing written, the folder still served in fp32."""
    from gluon_seq.data.generated import write_qa1_tarball

    options = {"model": "entnet", "subset": "en", "embed": 8, "slots": 3,
               "tarball": str(write_qa1_tarball(tmp_path / "qa1.tar.gz"))}
    gluon_seq.train(RunConfig.for_task("babi", epochs=1, options=options), tmp_path / "run",
                    log=lambda line: None)
    with pytest.raises(UserError, match="cannot be quantized") as info:
        gluon_seq.export(tmp_path / "run", quantize="int8", log=lambda line: None)
    assert "\n" not in str(info.value)
    folder = tmp_path / "run" / "export"
    assert not (folder / INT8_SYMBOL_FILE).exists()
    assert MXNetPredictor(folder).graph != "int8"
