"""gluon_seq.build: the task with its data and an untrained model, as train() builds them."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

import gluon_seq
from gluon_seq import RunConfig

TINY = {"hidden": 8, "train_samples": 64, "valid_samples": 32, "test_samples": 32}


def _config(**overrides):
    return RunConfig.for_task("arithmetic", epochs=1, batch_size=16, options=dict(TINY),
                              **overrides)


def test_build_gives_the_task_with_data_and_a_model_that_runs_a_batch():
    bench = gluon_seq.build(_config(rnn_backend="fused"))
    assert bench.kernel == "fused"
    batch = next(bench.task.train_batches(epoch=0, batch_size=16))
    scores = bench.model(mx.nd.array(batch.inputs[0]), *bench.model.begin_state(16))
    assert scores.shape == (16, 4, 13)  # (N, T_out, charset)
    # encoder 4*8*(13+8) + 2*4*8, decoder 4*8*(8+8) + 2*4*8, output 13*8 + 13
    assert bench.parameter_count == 736 + 576 + 117


def test_auto_means_the_unfused_kernel_on_the_cpu():
    assert gluon_seq.build(_config(rnn_backend="auto")).kernel == "unfused"


def test_build_is_seeded_and_one_hand_step_changes_the_weights():
    first, second = gluon_seq.build(_config()), gluon_seq.build(_config())
    weights = {n: p.data().asnumpy() for n, p in first.model.collect_params().items()}
    assert all(np.array_equal(weights[n], p.data().asnumpy())
               for n, p in second.model.collect_params().items())
    batch = next(first.task.train_batches(epoch=0, batch_size=16))
    trainer = gluon.Trainer(first.model.collect_params(), "adam", {"learning_rate": 1e-2})
    with autograd.record():
        scores = first.model(mx.nd.array(batch.inputs[0]), *first.model.begin_state(16))
        loss = first.task.loss(scores, mx.nd.array(batch.label)).mean()
    loss.backward()
    trainer.step(1)
    moved = [n for n, p in first.model.collect_params().items()
             if not np.array_equal(weights[n], p.data().asnumpy())]
    assert len(moved) == len(weights)


def test_build_starts_from_the_weights_train_starts_from(tmp_path, monkeypatch):
    from gluon_seq.training import workflow

    seen = {}

    class Recording(workflow.Fitter):
        def __init__(self, task, model, *args, **kwargs):
            seen.update({n: p.data().asnumpy() for n, p in model.collect_params().items()})
            raise RuntimeError("stop before training")

    monkeypatch.setattr(workflow, "Fitter", Recording)
    with pytest.raises(RuntimeError, match="stop before training"):
        gluon_seq.train(_config(), tmp_path, log=lambda line: None)
    params = gluon_seq.build(_config()).model.collect_params()
    assert sorted(seen) == sorted(params)
    assert all(np.array_equal(seen[n], p.data().asnumpy()) for n, p in params.items())
