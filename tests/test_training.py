"""The one training path: run folder contents, checkpoints, resume, errors."""
import json
import math

import pytest

from gluon_seq.util.errors import UserError
from gluon_seq import RunConfig
from gluon_seq.training.run_folder import load_run
from gluon_seq.training.workflow import reevaluate, train

TINY = {"train_samples": 256, "valid_samples": 64, "test_samples": 64}


def _config(**overrides):
    values = dict(epochs=2, batch_size=32, options=dict(TINY))
    values.update(overrides)
    return RunConfig.for_task("arithmetic", **values)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    train(_config(), folder, log=lambda line: None)
    return folder


def test_run_folder_has_every_artifact(run_dir):
    for name in ("config.json", "log.csv", "checkpoint.params", "last.params", "last.trainer",
                 "progress.json", "metrics.json", "export/model-symbol.json",
                 "export/model-0000.params", "export/meta.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("task", "metric", "value", "split", "epochs", "train_seconds", "rnn_backend"):
        assert key in metrics
    assert metrics["task"] == "arithmetic" and metrics["epochs"] == 2
    assert metrics["rnn_backend"] == "unfused"  # auto on CPU
    assert set(metrics["splits"]) == {"fresh", "heldout"}
    assert 0.0 <= metrics["value"] <= 1.0
    rows = (run_dir / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,train_loss") and len(rows) == 3
    losses = [float(row.split(",")[1]) for row in rows[1:]]
    assert all(math.isfinite(x) and 0 < x < 10 for x in losses), losses
    assert losses[1] < losses[0]  # two epochs of Adam on fresh draws must make progress
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_reevaluate_matches_the_final_metrics(run_dir):
    saved = json.loads((run_dir / "metrics.json").read_text())
    again = reevaluate(run_dir)
    assert again["value"] == pytest.approx(saved["value"])
    fused = reevaluate(run_dir, rnn_backend="fused")
    assert fused["rnn_backend"] == "fused"
    assert fused["value"] == pytest.approx(saved["value"])  # same weights, other kernel


def test_the_checkpoint_kept_is_the_best_metric_then_the_lowest_valid_loss(tmp_path, monkeypatch):
    from gluon_seq.training import loop

    scripted = iter([{"exact_match": 0.5, "loss": 0.3}, {"exact_match": 0.5, "loss": 0.2},
                     {"exact_match": 0.4, "loss": 0.1}, {"exact_match": 0.5, "loss": 0.2}])
    monkeypatch.setattr(loop, "evaluate", lambda *args, with_loss=False, **kw: next(scripted)
                        if with_loss else {"exact_match": 0.0})
    train(_config(epochs=4), tmp_path, log=lambda line: None)
    progress = json.loads((tmp_path / "progress.json").read_text())
    assert (progress["best_epoch"], progress["best_value"], progress["best_loss"]) == (2, 0.5, 0.2)


def test_resume_continues_from_the_last_epoch(tmp_path):
    train(_config(epochs=1), tmp_path, log=lambda line: None)
    lines = []
    metrics = train(_config(epochs=3), tmp_path, resume=True, log=lines.append)
    assert [l.split()[1] for l in lines] == ["2/3", "3/3"]
    assert metrics["epochs"] == 3
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


def test_resume_gives_the_same_weights_as_an_unbroken_run(tmp_path):
    import numpy as np

    straight, broken = tmp_path / "straight", tmp_path / "broken"
    train(_config(epochs=2), straight, log=lambda line: None)
    train(_config(epochs=1), broken, log=lambda line: None)
    train(_config(epochs=2), broken, resume=True, log=lambda line: None)
    params = lambda folder: load_run(folder)[2].collect_params()
    for (name, a), (_, b) in zip(sorted(params(straight).items()), sorted(params(broken).items())):
        np.testing.assert_allclose(a.data().asnumpy(), b.data().asnumpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_training_twice_into_one_folder_needs_resume(run_dir):
    with pytest.raises(UserError, match="--resume"):
        train(_config(), run_dir, log=lambda line: None)


def test_resume_refuses_a_run_of_another_task(run_dir, monkeypatch):
    config = _config()
    config.task = "alphabet"
    with pytest.raises(UserError, match="'arithmetic' run"):
        train(config, run_dir, resume=True, log=lambda line: None)


def test_checkpoint_of_another_model_is_a_clear_error(run_dir, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["options"]["hidden"] = 16  # a different architecture than the saved weights
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=r"cannot be loaded into a 'arithmetic' model \(.*shape incompatible"):
        load_run(other)


def test_bad_configs_are_user_errors():
    with pytest.raises(UserError, match="no option"):
        RunConfig.for_task("arithmetic", options={"hiden": 3})
    with pytest.raises(UserError, match="no preset"):
        RunConfig.for_task("arithmetic", preset="nope")
    with pytest.raises(UserError, match="unknown task"):
        RunConfig.for_task("nope")
    with pytest.raises(UserError, match="not a gluon-seq run folder"):
        load_run("/nonexistent")


class _CountingModel:
    """Stands in for a stateful model: its prediction is the incoming state, and
    the state it returns is one more, so carried states show up as 0, 1, 2..."""

    def __init__(self, carries):
        import mxnet as mx

        self.mx, self.carries = mx, carries

    def begin_state(self, batch_size, ctx=None):
        return [self.mx.nd.zeros((1, batch_size, 1), ctx=ctx)]

    def __call__(self, data, state):
        # A stateful model returns (prediction, *states); a stateless one only the prediction.
        return (state.reshape((-1,)), state + 1) if self.carries else state.reshape((-1,))


class _RecordingMetric:
    def __init__(self):
        self.seen = []

    def update(self, pred, label):
        self.seen.append(pred.asnumpy().tolist())

    def result(self):
        return {"seen": self.seen}


# A batch of another size cannot take the carried states, so it and the next
# same-size batch start again from zeros.
@pytest.mark.parametrize("carries,expected", [(True, [[0, 0], [1, 1], [0], [0, 0], [1, 1]]),
                                              (False, [[0, 0], [0, 0], [0], [0, 0], [0, 0]])])
def test_carried_states_flow_from_batch_to_batch(carries, expected):
    import mxnet as mx
    import numpy as np

    from gluon_seq.data import Batch
    from gluon_seq.training.loop import evaluate

    class StatefulTask:
        carries_state = carries

        def eval_batches(self, split, batch_size):
            for size in (2, 2, 1, 2, 2):
                yield Batch((np.zeros((size, 3)),), np.zeros(size))

        def new_metric(self):
            return _RecordingMetric()

    seen = evaluate(_CountingModel(carries), StatefulTask(), "valid", [mx.cpu()], 2)["seen"]
    assert seen == expected


def test_auto_fast_times_both_kernels_and_trains_with_the_faster(tmp_path):
    lines = []
    config = RunConfig.for_task("arithmetic", epochs=1, rnn_backend="auto-fast",
                                options={"train_samples": 64, "valid_samples": 32,
                                         "test_samples": 32})
    metrics = train(config, tmp_path / "run", log=lines.append)
    choice = [line for line in lines if line.startswith("auto-fast:")]
    assert len(choice) == 1 and "ms fused" in choice[0] and "ms unfused" in choice[0]
    assert metrics["rnn_backend"] in ("fused", "unfused")
    assert f"the {metrics['rnn_backend']} kernel" in choice[0]
    # The run folder records the request and the kernel training used, so nothing
    # re-times it later.
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["rnn_backend"], saved["kernel"]) == ("auto-fast", metrics["rnn_backend"])
    lines.clear()
    config.epochs = 2
    resumed = train(config, tmp_path / "run", resume=True, log=lines.append)
    assert not [line for line in lines if line.startswith("auto-fast:")]
    assert resumed["rnn_backend"] == metrics["rnn_backend"] and resumed["epochs"] == 2


def test_two_cpu_devices_split_the_batch_reduce_gradients_and_clip_on_each(tmp_path, monkeypatch):
    """The multi-device path, on two CPU contexts: each batch is split over both, the
    Trainer reduces their gradients, and clipping runs on every device.  Summed shard
    gradients are the whole batch's, so the weights match a one-device run."""
    import mxnet as mx
    import numpy as np
    from mxnet import gluon

    from gluon_seq.training import loop as training

    shards, clipped = [], []
    split = training._to_contexts
    monkeypatch.setattr(training, "_to_contexts", lambda batch, contexts: shards.append(
        [(label.context, label.shape[0]) for _, label in split(batch, contexts)]) or
        split(batch, contexts))
    clip = gluon.utils.clip_global_norm
    monkeypatch.setattr(gluon.utils, "clip_global_norm", lambda arrays, norm: clipped.append(
        arrays[0].context) or clip(arrays, norm))
    one, two = tmp_path / "one", tmp_path / "two"
    train(_config(epochs=1, clip=1e6), one, log=lambda line: None)
    shards.clear(), clipped.clear()
    metrics = train(_config(epochs=1, clip=1e6, ctx="cpu:0,cpu:1"), two, log=lambda line: None)
    assert shards[0] == [(mx.cpu(0), 16), (mx.cpu(1), 16)]  # batch 32 over two devices
    assert set(clipped) == {mx.cpu(0), mx.cpu(1)}
    assert metrics["value"] >= 0
    for (name, a), (_, b) in zip(sorted(load_run(one)[2].collect_params().items()),
                                 sorted(load_run(two)[2].collect_params().items())):
        np.testing.assert_allclose(a.data().asnumpy(), b.data().asnumpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def test_a_global_clip_on_one_device_is_applied_by_the_update(tmp_path, monkeypatch):
    """On one device the global clip's factor goes to the update instead of a pass over
    the gradients: the weights are those of clip_global_norm followed by the update."""
    import numpy as np
    from mxnet import gluon

    from gluon_seq.training import loop as training

    factors = []
    folded = training.global_clip_factor
    monkeypatch.setattr(training, "global_clip_factor", lambda grads, norm: factors.append(
        folded(grads, norm)) or factors[-1])
    train(_config(epochs=1, clip=0.05, lr=0.01), tmp_path / "folded", log=lambda line: None)
    assert factors and min(factors) < 0.5  # the clip bound

    def clip_in_place(grads, norm):  # what the loop did before
        gluon.utils.clip_global_norm(grads, norm)
        return 1.0

    monkeypatch.setattr(training, "global_clip_factor", clip_in_place)
    train(_config(epochs=1, clip=0.05, lr=0.01), tmp_path / "in_place", log=lambda line: None)
    for (name, a), (_, b) in zip(sorted(load_run(tmp_path / "folded")[2].collect_params().items()),
                                 sorted(load_run(tmp_path / "in_place")[2].collect_params().items())):
        np.testing.assert_allclose(a.data().asnumpy(), b.data().asnumpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)  # float32 rounding differs by op order


def test_global_clip_factor_is_clip_global_norms():
    import mxnet as mx
    import numpy as np
    from mxnet import gluon

    from gluon_seq.training.loop import global_clip_factor

    grads = [mx.nd.array([[3.0, 0.0]]), mx.nd.array([4.0])]  # norm 5
    assert global_clip_factor(grads, 2.0) == pytest.approx(0.4)
    assert global_clip_factor(grads, 10.0) == 1.0
    gluon.utils.clip_global_norm(grads, 2.0)
    np.testing.assert_allclose(grads[0].asnumpy(), [[1.2, 0.0]], rtol=1e-6)
    with pytest.warns(UserWarning, match="nan or inf"):
        assert np.isnan(global_clip_factor([mx.nd.array([np.nan])], 1.0))
    with pytest.warns(UserWarning, match="nan or inf"):
        assert global_clip_factor([mx.nd.array([np.inf])], 1.0) == 0.0


def test_resume_refuses_a_changed_setting_naming_its_flag(run_dir):
    with pytest.raises(UserError, match=r"--batch-size 16 differs from the saved run's 32"):
        train(_config(batch_size=16), run_dir, resume=True, log=lambda line: None)
    with pytest.raises(UserError, match=r"--hidden 16 differs"):
        train(_config(options=dict(TINY, hidden=16)), run_dir, resume=True,
              log=lambda line: None)


def test_resume_compares_only_the_settings_given(tmp_path):
    from gluon_seq.training.config import resumed_config

    saved = _config(lr=0.01, rnn_backend="auto-fast", kernel="fused")
    asked = _config(epochs=5)  # lr and kernel not given: the saved ones stand
    resumed = resumed_config(saved, asked, given=["epochs"])
    assert (resumed.epochs, resumed.lr, resumed.rnn_backend, resumed.kernel) == \
        (5, 0.01, "auto-fast", "fused")
    # The request is compared as asked; the kernel it led to is the run's, whatever is asked.
    assert resumed_config(saved, _config(lr=0.01, rnn_backend="auto-fast")).kernel == "fused"
    for request in ("auto", "fused"):
        with pytest.raises(UserError, match=f"--rnn-backend {request} differs from the saved "
                                            "run's auto-fast"):
            resumed_config(saved, _config(lr=0.01, rnn_backend=request))


def test_resume_keeps_a_presets_epochs_unless_epochs_is_given():
    """`make run` trains arithmetic with the generalise preset's 30 epochs; a second
    `make run` passes only --resume and must not train on to the default 60."""
    from gluon_seq.training.config import resumed_config

    saved = RunConfig.for_task("arithmetic", preset="generalise")
    assert saved.epochs == 30
    assert resumed_config(saved, RunConfig.for_task("arithmetic"), given=[]).epochs == 30
    asked = RunConfig.for_task("arithmetic", epochs=45)
    assert resumed_config(saved, asked, given=["epochs"]).epochs == 45


def test_the_generalise_preset_decays_its_rate_along_a_cosine_and_the_source_does_not():
    from gluon_seq.training.run_folder import make_task

    preset = RunConfig.for_task("arithmetic", preset="generalise")
    factors = [make_task(preset).lr_schedule(e, preset.epochs) for e in range(preset.epochs)]
    assert preset.lr == 2e-3 and factors[0] == 1.0 and factors[-1] < 0.01
    assert all(later < earlier for earlier, later in zip(factors, factors[1:]))
    assert factors[15] == pytest.approx(0.5)  # half way
    source = RunConfig.for_task("arithmetic")
    assert {make_task(source).lr_schedule(e, 60) for e in range(60)} == {1.0}


@pytest.mark.parametrize("cell,gates", [("gru", 3), ("rnn_tanh", 1)])
def test_a_run_trains_exports_and_reloads_with_another_cell(tmp_path, cell, gates):
    from gluon_seq.serving import load_predictor

    metrics = train(_config(epochs=1, cell=cell), tmp_path, log=lambda line: None)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["cell"] == cell and metrics["value"] >= 0
    _, _, model, _ = load_run(tmp_path, rnn_backend="fused")
    weight = model.encoder.l0_i2h_weight.data()
    assert weight.shape == (gates * 32, 13)  # (G gates x hidden 32, 13 characters)
    meta = json.loads((tmp_path / "export" / "meta.json").read_text())
    assert meta["cell"] == cell and len([s for s in meta["inputs"] if s["role"] == "state"]) == 2
    assert load_predictor(tmp_path / "export").predict(["1+1+1"])
    with pytest.raises(UserError, match="--cell lstm differs from the saved run's " + cell):
        train(_config(epochs=2, cell="lstm"), tmp_path, resume=True, log=lambda line: None)
