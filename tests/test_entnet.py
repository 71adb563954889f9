"""The recurrent entity network (``--model entnet``): its equations, padding and training.
Its export and ONNX are tested with MemN2N's (test_memn2n.py), ``ask`` in test_ask.py."""
import json

import mxnet as mx
import numpy as np
import pytest

from gluon_seq.data.generated import write_qa1_tarball
from gluon_seq.models.entnet import STEP_ROUND, EntNet
from gluon_seq.rnn import LayerFactory
from gluon_seq.tasks import babi as babi_task


def _task(tmp_path, **options):
    values = dict(babi_task.BabiTask.tiny_options, model="entnet", embed=6, slots=3,
                  tarball=str(write_qa1_tarball(tmp_path / "qa1.tar.gz")), **options)
    task = babi_task.BabiTask.for_options(babi_task.BabiTask.make_options(values))
    task.prepare()
    return task


def _model(task, for_export=False):
    model = task.build_model(LayerFactory("fused"), for_export=for_export)
    model.initialize(task.initializer())
    for name, param in model.collect_params().items():  # masks and slopes off their init of 1
        if "mask" in name or "slope" in name:
            param.set_data(mx.nd.random.uniform(0.5, 1.5, param.shape))
    return model


def _numpy_forward(model, story, question):
    """The paper's equations in numpy, one sentence at a time, skipping empty ones."""
    get = {name.split("entnet_", 1)[1]: p.data().asnumpy().astype(np.float64)
           for name, p in model.collect_params().items()}
    prelu = lambda x, slope: np.where(x > 0, x, slope * x)  # noqa: E731

    def encode(ids, mask):
        return sum(mask[k] * get["embedding"][w] for k, w in enumerate(ids) if w)

    h = get["keys"] / np.linalg.norm(get["keys"], axis=1, keepdims=True)  # (m, d)
    gates = []
    for sentence in story:
        if not sentence.any():
            gates.append(np.zeros(len(h)))
            continue
        s = encode(sentence, get["story_mask"])
        gate = 1 / (1 + np.exp(-((h + get["keys"]) @ s)))                  # (m,)
        candidate = prelu(h @ get["U"].T + get["keys"] @ get["V"].T + get["W"] @ s,
                          get["memory_slope"])
        h = h + gate[:, None] * candidate
        h = h / np.linalg.norm(h, axis=1, keepdims=True)
        gates.append(gate)
    q = encode(question, get["question_mask"])
    logits = h @ q
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    hidden = prelu(q + get["H"] @ (p @ h), get["output_slope"])
    return get["R"] @ hidden, np.stack(gates, axis=1)                      # (V,), (m, M)


def test_forward_matches_the_papers_equations(tmp_path):
    task = _task(tmp_path)
    model = _model(task, for_export=True)
    model.hybridize()
    stories, questions, _ = task._split("test")
    assert not stories[:5, 0].any(axis=1).all()  # some of these stories leave slot 0 empty
    scores, gates = [o.asnumpy() for o in model(mx.nd.array(stories[:5]),
                                                  mx.nd.array(questions[:5]))]
    assert scores.shape == (5, task.codec().vocab_size)
    assert gates.shape == (5, 3, task.codec().memory_size)
    for row in range(5):
        want_scores, want_gates = _numpy_forward(model, stories[row], questions[row])
        np.testing.assert_allclose(scores[row], want_scores, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gates[row], want_gates, rtol=1e-4, atol=1e-6)


def test_empty_slots_change_nothing(tmp_path):
    """A story padded with more empty sentences in front scores the same."""
    task = _task(tmp_path)
    stories, questions, _ = task._split("test")
    codec, wide = task.codec(), task.codec().memory_size + 4
    narrow_model = _model(task)
    wide_model = EntNet(codec.vocab_size, wide, codec.sentence_length, 6, 3, prefix="entnet_")
    wide_model.initialize()
    for (_, a), (_, b) in zip(sorted(narrow_model.collect_params().items()),
                              sorted(wide_model.collect_params().items())):
        b.set_data(a.data())
    padded = np.zeros((4, wide, codec.sentence_length), dtype=stories.dtype)
    padded[:, 4:] = stories[:4]
    np.testing.assert_allclose(
        wide_model(mx.nd.array(padded), mx.nd.array(questions[:4])).asnumpy(),
        narrow_model(mx.nd.array(stories[:4]), mx.nd.array(questions[:4])).asnumpy(),
        rtol=1e-5, atol=1e-6)


def _grads(model, story, question, label):
    with mx.autograd.record():
        out = model(story, question)
        loss = mx.nd.softmax_cross_entropy(out[0] if isinstance(out, (list, tuple)) else out, label)
    loss.backward()
    return out, {name.split("_", 1)[1]: p.grad().asnumpy()
                 for name, p in model.collect_params().items()}


@pytest.mark.parametrize("gates_output", [False, True])
def test_skipping_empty_slots_keeps_scores_gates_and_gradients(tmp_path, gates_output):
    """A batch whose stories fill only the latest slots runs a shorter graph, and its
    outputs and gradients are the full graph's."""
    task = _task(tmp_path)
    stories, questions, answers = task._split("test")
    codec, wide = task.codec(), 3 * STEP_ROUND
    padded = np.zeros((6, wide, codec.sentence_length), dtype=stories.dtype)
    padded[:, wide - codec.memory_size:] = stories[:6]  # the first slots empty in every story
    inputs = (mx.nd.array(padded), mx.nd.array(questions[:6]), mx.nd.array(answers[:6]))
    models = [EntNet(codec.vocab_size, wide, codec.sentence_length, 6, 3, prefix="entnet_",
                     gates_output=gates_output, skip_empty=skip) for skip in (False, True)]
    for model in models:
        model.initialize()
        model.hybridize(static_alloc=True)
    for (_, a), (_, b) in zip(sorted(models[0].collect_params().items()),
                              sorted(models[1].collect_params().items())):
        a.set_data(a.data() + mx.nd.random.uniform(0, 0.5, a.shape))  # masks off their 1
        b.set_data(a.data())
    (full, full_grads), (short, short_grads) = [_grads(m, *inputs) for m in models]
    assert [steps < wide for steps in models[1]._views.by_steps] == [True]  # a shorter graph ran
    for a, b in zip(full if gates_output else [full], short if gates_output else [short]):
        assert a.shape == b.shape
        np.testing.assert_allclose(b.asnumpy(), a.asnumpy(), rtol=1e-4, atol=1e-6)
    for name, grad in full_grads.items():
        np.testing.assert_allclose(short_grads[name], grad, rtol=1e-3, atol=1e-6, err_msg=name)


def test_the_model_brings_its_papers_training():
    from gluon_seq import RunConfig

    alone = RunConfig.for_task("babi", options={"model": "entnet"})
    assert (alone.optimizer, alone.lr, alone.clip, alone.epochs, alone.batch_size) == \
        ("adam", 0.01, 1.25, 200, 32)
    preset = RunConfig.for_task("babi", preset="entnet")
    assert preset.options == {"model": "entnet", "embed": 100, "slots": 20, "memory_size": 70,
                              "cycle": 20}
    assert preset.optimizer == "adam" and preset.epochs == 200
    task = babi_task.EntNetTask.__new__(babi_task.EntNetTask)
    task.options = babi_task.BabiTask.make_options({"model": "entnet"})
    assert [task.lr_schedule(e, 200) for e in (0, 24, 25, 49, 50, 199)] == \
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.5 ** 7]
    task.options = babi_task.BabiTask.make_options({"model": "entnet", "anneal": 10})
    assert [task.lr_schedule(e, 30) for e in (9, 10, 29)] == [1.0, 0.5, 0.25]


def test_cycle_is_a_triangle_per_epoch_instead_of_the_halving():
    task = babi_task.EntNetTask.__new__(babi_task.EntNetTask)
    task.options = babi_task.BabiTask.make_options({"model": "entnet", "cycle": 20})
    factors = [task.lr_schedule(e, 200) for e in range(200)]
    assert factors[0] == factors[20] == factors[180] == pytest.approx(0.02)
    assert factors[10] == factors[190] == pytest.approx(1.0)
    assert factors[5] == factors[15] == pytest.approx(0.51)  # halfway up and down
    assert max(factors) == pytest.approx(1.0) and min(factors) == pytest.approx(0.02)
    assert factors[:20] == factors[20:40]  # no halving between cycles


@pytest.mark.parametrize("bad", ["1", "-2", "2.5"])
def test_a_cycle_of_one_epoch_is_refused_in_one_sentence(bad, tmp_path, capsys):
    from gluon_seq.cli.commands import main

    try:
        code = main(["train", "babi", "--model", "entnet", "--cycle", bad,
                     "--out", str(tmp_path / "run")])
    except SystemExit as stop:  # argparse's own refusal of a value that is not a number
        code = stop.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--cycle" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_training_learns_the_tiny_qa1_and_exports_the_gates(tmp_path):
    from gluon_seq import RunConfig
    from gluon_seq.training.workflow import train

    options = {"model": "entnet", "subset": "en", "embed": 16, "slots": 4,
               "tarball": str(write_qa1_tarball(tmp_path / "qa1.tar.gz"))}
    config = RunConfig.for_task("babi", epochs=15, options=options)
    assert (config.optimizer, config.lr) == ("adam", 0.01)
    metrics = train(config, tmp_path / "run", log=lambda line: None)
    chance = 1 / 4  # four places a person can be in the generated stories
    assert metrics["splits"]["test"]["accuracy"] > 3 * chance
    meta = json.loads((tmp_path / "run" / "export" / "meta.json").read_text())
    assert meta["outputs"][1]["rows"] == "block" and meta["codec"]["type"] == "babi-memory"


def test_bucket_trains_on_batches_of_one_length(tmp_path, monkeypatch):
    """``--bucket``: each training batch's stories start within the bucket width of each
    other; without it the batches are the usual shuffle.  The tiny stories have 2 or 3
    sentences, so the width here is 1 rather than the model's STEP_ROUND."""
    monkeypatch.setattr(babi_task, "STEP_ROUND", 1)
    bucketed, plain = _task(tmp_path, bucket=True), _task(tmp_path)
    memory = bucketed._split("train")[0].shape[1]

    def lengths(batch):
        used = batch.inputs[0].any(axis=2)                                # (N, M)
        return set(memory - used.argmax(axis=1))

    batches = list(bucketed.train_batches(0, 4))
    assert sum(b.size for b in batches) == len(bucketed._split("train")[0])
    assert all(len(lengths(b)) == 1 for b in batches)
    assert max(len(lengths(b)) for b in plain.train_batches(0, 4)) == 2
