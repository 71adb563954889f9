"""training/workflow.py: the entry points (gluon_seq.train, evaluate, export), what
each reads from disk, and the kernel decisions they make once."""
import json

import mxnet as mx
import pytest

import gluon_seq
from gluon_seq import RunConfig
from gluon_seq.training import run_folder, workflow

TINY = {"train_samples": 64, "valid_samples": 32, "test_samples": 32}


def _config(**overrides):
    return RunConfig.for_task("arithmetic", epochs=1, batch_size=16, options=dict(TINY),
                              **overrides)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    gluon_seq.train(_config(), folder, log=lambda line: None)
    return folder


def _count(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


def test_the_public_api_trains_evaluates_and_exports(run, tmp_path):
    metrics = json.loads((run / "metrics.json").read_text())
    assert gluon_seq.evaluate(run)["splits"] == metrics["splits"]
    folder = gluon_seq.export(run, onnx=True)
    assert folder == run / "export" and (folder / "model.onnx").is_file()
    model = gluon_seq.load_predictor(folder)
    onnx = gluon_seq.load_predictor(folder, "onnxruntime")
    assert model.predict(["7*3*2"]) == onnx.predict(["7*3*2"])


def test_training_reads_the_best_checkpoint_once_and_exports_it_from_memory(tmp_path,
                                                                           monkeypatch):
    loads = _count(monkeypatch, workflow, "load_params")
    reopened = _count(monkeypatch, workflow, "load_run")
    gluon_seq.train(_config(), tmp_path, log=lambda line: None)
    assert len(loads) == 1 and loads[0][1] == tmp_path / run_folder.BEST_PARAMS
    assert not reopened
    assert (tmp_path / "export" / "model-symbol.json").is_file()


def test_auto_fast_export_opens_the_run_once_and_times_the_portable_graphs(run, tmp_path,
                                                                          monkeypatch):
    reopened = _count(monkeypatch, workflow, "load_run")
    timed = _count(monkeypatch, workflow, "step_seconds")
    lines = []
    folder = workflow.export_run(run, "auto-fast", folder=tmp_path / "export", log=lines.append)
    assert len(reopened) == 1
    assert sorted(call[1].kernel for call in timed) == ["fused", "unfused"]
    assert all(call[1].portable for call in timed)  # as the export will run
    chosen = json.loads((folder / "meta.json").read_text())["rnn_backend"]
    assert any(f"exporting the {chosen} kernel" in line for line in lines)


def test_a_kernel_request_is_decided_once_and_kept_for_the_run(tmp_path, monkeypatch):
    timed = _count(monkeypatch, workflow, "step_seconds")
    metrics = gluon_seq.train(_config(rnn_backend="auto-fast"), tmp_path, log=lambda l: None)
    assert len(timed) == 2  # one timing per kernel, at the start
    saved = RunConfig.load(tmp_path)
    assert saved.rnn_backend == "auto-fast" and saved.kernel == metrics["rnn_backend"]
    timed.clear()
    resumed = RunConfig.for_task("arithmetic", epochs=2, batch_size=16, options=dict(TINY),
                                 rnn_backend="auto-fast")
    gluon_seq.train(resumed, tmp_path, resume=True,
                    log=lambda l: None)
    assert not timed
    assert workflow.training_kernel(None, _config(rnn_backend="auto"), [mx.cpu()]) == "unfused"
    assert workflow.export_kernel(None, "fused") == "fused"  # nothing to time
