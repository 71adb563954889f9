"""Export folders serve with no model code, and bad folders fail clearly."""
import json
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_seq import tasks
from gluon_seq.rnn import compiled_ops
from gluon_seq.util.errors import UserError
from gluon_seq.serving.predictors import MXNetPredictor
from gluon_seq.exporting.writer import export_model
from gluon_seq.serving import load_predictor
from gluon_seq.rnn import LayerFactory


def _live(task_name, backend, **options):
    task = tasks.get(task_name)(tasks.get(task_name).make_options(options))
    task.prepare()
    model = task.build_model(LayerFactory(backend))
    model.initialize(task.initializer())
    return task, model


@pytest.mark.parametrize("backend", ["fused", "unfused"])
def test_export_reproduces_the_live_model(tmp_path, backend):
    task, model = _live("arithmetic", backend, train_samples=64, valid_samples=32, test_samples=32)
    folder = export_model(task, model, tmp_path / "export")
    exported = load_predictor(folder)
    batch = next(task.eval_batches("fresh", 32))
    live = model(mx.nd.array(batch.inputs[0]), *model.begin_state(32)).asnumpy()
    got = exported.run(list(batch.inputs))
    np.testing.assert_allclose(got[0], live, rtol=1e-6, atol=1e-6)
    meta = json.loads((folder / "meta.json").read_text())
    assert [s["role"] for s in meta["inputs"]] == ["data", "state", "state", "state", "state"]
    # Stock operators only, even where training used gluon_seq's compiled ones.
    graph = (folder / "model-symbol.json").read_text()
    assert not [op for op in compiled_ops.OPS if op in graph]
    texts = ["7*3*2", "1+1+1"]
    encoded = task.codec().encode(texts)
    live_texts = model(mx.nd.array(encoded[0]), *model.begin_state(2)).asnumpy()
    assert exported.predict(texts) == task.codec().decode([live_texts])


def test_loading_an_export_never_imports_task_code(tmp_path):
    task, model = _live("arithmetic", "fused", train_samples=64, valid_samples=32, test_samples=32)
    folder = export_model(task, model, tmp_path / "export")
    code = (f"import sys; from gluon_seq.serving import load_predictor; "
            f"m = load_predictor({str(folder)!r}); print(m.predict(['1+2+3'])); "
            f"assert not [n for n in sys.modules if n.startswith('gluon_seq.tasks')], 'task imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.usefixtures("needs_compiled_ops")
@pytest.mark.parametrize("backend,op", [("unfused", compiled_ops.LAYER_OP),
                                        ("fused", compiled_ops.PACK_OP)])
def test_a_graph_saved_with_the_compiled_ops_still_loads_in_a_fresh_process(tmp_path, backend,
                                                                             op):
    """export_model never writes the compiled ops, but a block exported directly does;
    MXNetPredictor registers them before reading such a graph."""
    task, model = _live("arithmetic", backend, train_samples=64, valid_samples=32,
                        test_samples=32)
    folder = export_model(task, model, tmp_path / "export")
    want = load_predictor(folder).predict(["7*3*2"])
    model.hybridize()  # trace the training model itself: the compiled ops go in
    encoded = task.codec().encode(["7*3*2"])
    model(mx.nd.array(encoded[0]), *model.begin_state(1))
    model.export(str(folder / "model"), epoch=0)
    assert op in (folder / "model-symbol.json").read_text()
    code = (f"from gluon_seq.serving import load_predictor; "
            f"print(load_predictor({str(folder)!r}).predict(['7*3*2']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(want)


def test_reexport_replaces_the_folder_atomically(tmp_path):
    task, model = _live("arithmetic", "fused", train_samples=64, valid_samples=32, test_samples=32)
    folder = export_model(task, model, tmp_path / "export")
    (folder / "stale.txt").write_text("from an older export")
    export_model(task, model, folder)
    assert not (folder / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


@pytest.mark.parametrize("damage,message", [
    (lambda f: (f / "model-0000.params").unlink(), "incomplete"),
    (lambda f: (f / "meta.json").write_text("{not json"), "corrupt"),
    (lambda f: (f / "model-symbol.json").write_text('{"nodes": 3}'), "corrupt"),
    (lambda f: (f / "model-0000.params").write_bytes(b"\x00" * 64), "corrupt"),
])
def test_a_damaged_export_is_a_one_line_error(tmp_path, damage, message):
    task, model = _live("arithmetic", "fused", train_samples=64, valid_samples=32, test_samples=32)
    folder = export_model(task, model, tmp_path / "export")
    damage(folder)
    with pytest.raises(UserError, match=message) as info:
        MXNetPredictor(folder)
    assert "\n" not in str(info.value)


def test_a_missing_export_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_predictor(tmp_path / "nope")
