"""Every registered task hybridizes, exports, and its export reproduces the live
model.  Parametrized over the registry, so a new task is covered automatically
(and a stray ``nd.`` inside a hybrid_forward fails here)."""
import mxnet as mx
import numpy as np
import pytest

from gluon_seq import tasks
from gluon_seq.serving import load_predictor


def _prepared(name, tmp_path):
    task_cls = tasks.get(name)
    task = task_cls.tiny(tmp_path)
    task.prepare()  # every tiny configuration runs on generated data
    return task


@pytest.mark.parametrize("name", tasks.names())
def test_every_task_exports_and_reproduces_the_live_model(name, tmp_path, export_untrained):
    task = _prepared(name, tmp_path)
    model, folder = export_untrained(task, tmp_path / "export")
    arrays = task.codec().encode(task.example_inputs())
    batch = int(np.asarray(arrays[0]).shape[0])
    live = model(*[mx.nd.array(a) for a in arrays], *model.begin_state(batch))
    live = [o.asnumpy() for o in (live if isinstance(live, (list, tuple)) else [live])]
    exported = load_predictor(folder)
    got = exported.run(arrays)
    # An export gives the live model's outputs first; what serving reads besides (the
    # memory networks' attention) comes after them.
    assert len(live) <= len(got) == len(exported.meta["outputs"])
    for a, b in zip(got, live):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", tasks.names())
def test_every_task_declares_what_the_loop_needs(name):
    task_cls = tasks.get(name)
    assert task_cls.test_splits and task_cls.valid_split
    for key in ("epochs", "batch_size", "lr", "optimizer"):
        assert key in task_cls.defaults, f"{name} has no default {key}"
    assert task_cls.metric


@pytest.mark.parametrize("name", tasks.names())
def test_every_task_converts_to_onnx_and_matches_the_export(name, tmp_path, export_untrained):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from gluon_seq.exporting.onnx import export_onnx

    task = _prepared(name, tmp_path)
    _, folder = export_untrained(task, tmp_path / "export")
    export_onnx(folder)
    arrays = task.codec().encode(task.example_inputs())
    want = load_predictor(folder, "mxnet").run(arrays)
    got = load_predictor(folder, "onnxruntime").run(arrays)
    assert len(got) == len(want)
    for a, b in zip(want, got):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", tasks.names())
def test_every_task_auto_fast_export_picks_a_kernel_that_serves_it(name, tmp_path,
                                                                   export_untrained):
    from gluon_seq.training.workflow import export_kernel

    task = _prepared(name, tmp_path)
    said = []
    kernel = export_kernel(task, "auto-fast", log=said.append, repeats=2)
    assert kernel in ("fused", "unfused") and f"exporting the {kernel} kernel" in said[0]
    _, folder = export_untrained(task, tmp_path / "export", kernel)
    assert load_predictor(folder).predict(task.example_inputs()[:1])  # the choice serves
    if not task.fixed_length:  # only the fused kernel takes inputs of any length
        assert kernel == "fused" and "the only one that serves" in said[0]
