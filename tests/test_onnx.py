"""ONNX export: the onnxruntime predictor answers like the MXNet export, and
graphs mx2onnx cannot convert fail with one sentence naming task and operator."""
import json
import shutil
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest

from gluon_seq import tasks
from gluon_seq.util.errors import UserError
from gluon_seq.serving.format import META_FILE
from gluon_seq.exporting.writer import export_model
from gluon_seq.exporting.onnx import OPSET, export_onnx
from gluon_seq.rnn import LayerFactory
from gluon_seq.serving import load_predictor


def _needs_the_onnx_extra():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")


def _onnxruntime(folder):
    return load_predictor(folder, "onnxruntime")


@pytest.fixture(scope="module")
def arith(tmp_path_factory, export_untrained):
    _needs_the_onnx_extra()
    _, folder = export_untrained(tasks.get("arithmetic")(),
                                 tmp_path_factory.mktemp("onnx") / "arith" / "export")
    export_onnx(folder)
    return folder


def test_the_file_declares_opset_13_and_only_data_inputs(arith):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(arith / "model.onnx"))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    meta = json.loads((arith / META_FILE).read_text())
    assert [i.name for i in model.graph.input] == [s["name"] for s in meta["inputs"]]
    info = json.loads((arith / "onnx.json").read_text())
    assert info["opset"] == OPSET and info["max_abs_diff_vs_mxnet"] < 1e-5
    assert info["dynamic_axes"]["data0"] == [0] and info["dynamic_axes"]["data1"] == [1]


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_onnxruntime_matches_mxnet_to_1e5(arith, batch):
    rng = np.random.RandomState(batch)
    chars = rng.randint(0, 13, size=(batch, 8)).astype(np.int32)
    want = load_predictor(arith).run([chars])
    got = _onnxruntime(arith).run([chars])
    assert len(got) == len(want)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)


def test_onnx_predict_gives_the_same_answers(arith):
    texts = ["7*3*2", "10+10+10", "1+2+3", "9*9*9", "5"]
    assert _onnxruntime(arith).predict(texts) == load_predictor(arith).predict(texts)


def test_missing_model_onnx_names_the_fix(tmp_path, export_untrained):
    _needs_the_onnx_extra()
    _, folder = export_untrained(tasks.get("arithmetic")(), tmp_path / "export")
    with pytest.raises(UserError, match="--onnx"):
        _onnxruntime(folder)


def test_an_unfused_export_is_refused_naming_the_fix(tmp_path, export_untrained):
    _needs_the_onnx_extra()
    _, folder = export_untrained(tasks.get("arithmetic")(), tmp_path / "export", "unfused")
    with pytest.raises(UserError, match="re-export with --rnn-backend fused"):
        export_onnx(folder)
    assert not (folder / "model.onnx").exists()


class _Erf(mx.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        return F.erf(x)  # no mx2onnx converter at opset 13


def test_an_operator_without_converter_is_named(tmp_path):
    _needs_the_onnx_extra()
    block = _Erf()
    block.hybridize()
    block(mx.nd.ones((2, 3)))
    folder = tmp_path / "export"
    folder.mkdir()
    block.export(str(folder / "model"), epoch=0)
    meta = {"format_version": 2, "task": "toy", "metric": "accuracy", "rnn_backend": "fused",
            "cell": "lstm", "carries_state": False, "input_description": "", "example_inputs": [],
            "inputs": [{"name": "data", "role": "data", "shape": [-1, 3], "batch_axis": 0}],
            "outputs": [{"shape": [-1, 3]}], "codec": {"type": "chars"}}
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"'toy'.*erf") as info:
        export_onnx(folder)
    assert "\n" not in str(info.value)
    assert not (folder / "model.onnx").exists()


def test_babi_converts_and_answers_like_mxnet(tmp_path):
    # The memory network reshapes with codes ONNX has (no -3), so its graph converts.
    _needs_the_onnx_extra()
    task = tasks.get("babi").tiny(tmp_path)
    task.prepare()
    model = task.build_model(LayerFactory("fused"))
    model.initialize(task.initializer())
    folder = export_model(task, model, tmp_path / "export")
    export_onnx(folder)
    assert json.loads((folder / "onnx.json").read_text())["max_abs_diff_vs_mxnet"] < 1e-5
    examples = task.example_inputs()
    assert _onnxruntime(folder).predict(examples) == load_predictor(folder).predict(examples)


@pytest.mark.parametrize("module", ["onnx", "onnxruntime"])
def test_a_missing_extra_is_one_sentence_naming_it(module, tmp_path, export_untrained,
                                                   monkeypatch):
    _, folder = export_untrained(tasks.get("arithmetic")(), tmp_path / "export")
    monkeypatch.setitem(sys.modules, module, None)  # import MODULE now raises ImportError
    with pytest.raises(UserError, match=rf"^{module} is not installed; install the onnx extra"):
        export_onnx(folder) if module == "onnx" else _onnxruntime(folder)


@pytest.mark.slow
def test_cli_export_onnx_flag_writes_model_onnx(tmp_path):
    _needs_the_onnx_extra()
    out = tmp_path / "run"
    base = [sys.executable, "-m", "gluon_seq"]
    train = subprocess.run(base + ["train", "arithmetic", "--epochs", "1", "--train-samples", "64",
                                   "--valid-samples", "32", "--test-samples", "32", "--out", str(out)],
                           capture_output=True, text=True)
    assert train.returncode == 0, train.stderr
    result = subprocess.run(base + ["export", str(out), "--onnx"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (out / "export" / "model.onnx").is_file()
    assert _onnxruntime(out / "export").predict(["1+2+3"]) == load_predictor(out / "export").predict(["1+2+3"])


def test_auto_serves_with_the_faster_runtime_and_says_so(arith, tmp_path, monkeypatch):
    """auto times both runtimes at load and keeps the one with the lower median; a folder
    without model.onnx is served by mxnet alone."""
    from gluon_seq.serving import predictors

    chosen = load_predictor(arith, "auto")
    assert set(chosen.timings) == {"mxnet", "onnxruntime"}
    assert chosen.timings[chosen.runtime] == min(chosen.timings.values())
    # Make onnxruntime's call slow: auto must then pick mxnet.
    ort_class = predictors.RUNTIMES.get("onnxruntime")
    fast = ort_class._execute

    def slow(self, feed):
        time.sleep(0.005)
        return fast(self, feed)

    monkeypatch.setattr(ort_class, "_execute", slow)
    assert load_predictor(arith, "auto", seconds=0.02).runtime == "mxnet"
    plain = tmp_path / "export"
    shutil.copytree(arith, plain)
    (plain / "model.onnx").unlink()
    alone = load_predictor(plain, "auto")
    assert alone.runtime == "mxnet" and list(alone.timings) == ["mxnet"]
