"""The multi-hop memory network (``--model memn2n``): its codec, position encoding,
weight tying, linear start, random-noise time padding, joint training, export and ONNX."""
import argparse
import json

import mxnet as mx
import numpy as np
import pytest

from gluon_seq.codecs import codec_from_meta
from gluon_seq.codecs.babi_memory import MemoryCodec, split_sentences
from gluon_seq.data import babi as babi_data
from gluon_seq.data.generated import synthetic_qa1_text, write_qa1_tarball, write_tarball
from gluon_seq.util.errors import UserError
from gluon_seq.exporting.writer import export_model
from gluon_seq.models.memn2n import MemN2N, position_encoding
from gluon_seq.rnn import LayerFactory
from gluon_seq.serving import load_predictor
from gluon_seq.tasks import babi as babi_task

VOCAB = [".", "?", "John", "Mary", "Where", "bathroom", "garden", "is", "moved", "the", "to"]


def _task(tmp_path, **options):
    values = dict(babi_task.BabiTask.tiny_options, tarball=str(write_qa1_tarball(
        tmp_path / "qa1.tar.gz")), **{"model": "memn2n", "embed": 6, **options})
    task = babi_task.BabiTask.for_options(babi_task.BabiTask.make_options(values))
    task.prepare()
    return task


def _model(task, **kwargs):
    model = task.build_model(LayerFactory("fused"))
    model.initialize(task.initializer())
    return model


# -- the codec ------------------------------------------------------------------------
def test_codec_fills_words_from_the_left_and_memories_from_the_right():
    codec = MemoryCodec(VOCAB, memory_size=2, sentence_length=6)
    stories, questions = codec.encode([{"story": "Mary moved to the garden. John moved. "
                                                 "Mary moved to the bathroom.",
                                        "question": "Where is Mary?"}])
    ids = {w: i + 1 for i, w in enumerate(VOCAB)}
    assert stories.shape == (1, 2, 6) and questions.shape == (1, 6)
    # Only the last two sentences fit; the newest is in the last slot.
    assert stories[0, 0].tolist() == [ids["John"], ids["moved"], ids["."], 0, 0, 0]
    assert stories[0, 1].tolist() == [ids[w] for w in "Mary moved to the bathroom .".split()]
    assert questions[0].tolist() == [ids[w] for w in "Where is Mary ?".split()] + [0, 0]
    short = codec.encode([{"story": "John moved.", "question": "Where is John?"}])[0]
    assert not short[0, 0].any() and short[0, 1, 0] == ids["John"]  # an empty slot first
    again = codec_from_meta(json.loads(json.dumps(codec.to_meta())))
    assert isinstance(again, MemoryCodec) and again.to_meta() == codec.to_meta()


def test_codec_refuses_unknown_words_and_long_sentences_in_one_sentence():
    codec = MemoryCodec(VOCAB, memory_size=3, sentence_length=5)
    with pytest.raises(UserError, match="flew") as info:
        codec.encode([{"story": "Mary flew.", "question": "Where is Mary?"}])
    assert "\n" not in str(info.value)
    with pytest.raises(UserError, match="at most 5 per sentence"):
        codec.encode([{"story": "Mary moved to the garden.", "question": "Where is Mary?"}])
    with pytest.raises(UserError, match="at most 5"):
        codec.encode([{"story": "Mary moved.", "question": "Where is the the Mary?"}])
    assert split_sentences("a b . c ? d".split()) == [["a", "b", "."], ["c", "?"], ["d"]]


def test_the_memory_network_reads_lower_case_like_its_reference_code(tmp_path):
    codec = _task(tmp_path).codec()
    assert codec.lowercase and codec.vocab == sorted(codec.vocab) and "mary" in codec.vocab
    assert "Mary" not in codec.vocab  # bAbI's QA15 asks of "gertrude" in a story of "Gertrude"
    same = [codec.encode([{"story": story, "question": question}])
            for story, question in (("Mary went to the garden.", "Where is mary?"),
                                    ("MARY went to the Garden.", "where is Mary?"))]
    for a, b in zip(*same):
        np.testing.assert_array_equal(a, b)
    assert codec_from_meta(codec.to_meta()).lowercase


# -- the model --------------------------------------------------------------------------
def test_position_encoding_is_the_reference_codes_formula():
    J, d = 4, 3
    want = np.array([[1 + 4 * (k - (d + 1) / 2) * (j - (J + 1) / 2) / (d * J)
                      for k in range(1, d + 1)] for j in range(1, J + 1)])
    np.testing.assert_allclose(position_encoding(J, d), want, rtol=1e-12)
    assert position_encoding(J, d)[0, 0] == pytest.approx(1 + 4 * (-1) * (-1.5) / 12)


def _numpy_forward(model, story, question, softmax=True):
    """The paper's equations in numpy, from the model's own (tied) parameters."""
    emb = [model.A(1).data().asnumpy()] + [model.C(k).data().asnumpy()
                                           for k in range(1, model.hops + 1)]
    tem = [model.T_A(1).data().asnumpy()] + [model.T_C(k).data().asnumpy()
                                             for k in range(1, model.hops + 1)]
    d, width = emb[0].shape[1], story.shape[1]
    weights = position_encoding(width, d)                                 # (J, d)

    def encode(words, table):  # one sentence's ids -> PE bag of words
        words = [w for w in words if w]
        return (weights[:len(words)] * table[words]).sum(axis=0) if words else np.zeros(d)

    u = encode(question, emb[0])
    real = story.any(axis=1)[:, None]  # empty slots are zero memories
    memories = [(np.stack([encode(s, e) for s in story]) + t) * real for e, t in zip(emb, tem)]
    for hop in range(model.hops):
        logits = memories[hop] @ u
        p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum() if softmax \
            else logits
        u = u + p @ memories[hop + 1]
    return u @ emb[-1].T


@pytest.mark.parametrize("softmax", [True, False])
def test_forward_matches_the_papers_equations_with_tied_weights(tmp_path, softmax):
    task = _task(tmp_path)
    model = _model(task)
    model.use_softmax(softmax)
    stories, questions, _ = task._split("test")
    got = model(mx.nd.array(stories[:3]), mx.nd.array(questions[:3])).asnumpy()
    assert got.shape == (3, task.codec().vocab_size)
    for row in range(3):
        np.testing.assert_allclose(got[row], _numpy_forward(model, stories[row], questions[row],
                                                            softmax), rtol=1e-4, atol=1e-5)


def test_adjacent_weight_tying_is_parameter_identity(tmp_path):
    model = _model(_task(tmp_path, hops=3))
    assert model.B is model.A(1)
    for hop in (1, 2):
        assert model.A(hop + 1) is model.C(hop) and model.T_A(hop + 1) is model.T_C(hop)
    assert model.W_transposed is model.C(3)
    trainable = [p for p in model.collect_params().values() if p.grad_req != "null"]
    assert len(trainable) == 2 * (3 + 1)  # E_0..E_3 and T_0..T_3, nothing else


def test_linear_start_switches_the_softmax_off_then_on_in_one_graph(tmp_path):
    task = _task(tmp_path, linear_start=2, anneal=3)
    model = task.build_model(LayerFactory("fused"), for_export=True)  # scores and attention
    model.initialize(task.initializer())
    model.hybridize(static_alloc=True, static_shape=True)
    stories, questions, _ = task._split("test")
    inputs = [mx.nd.array(stories[:4]), mx.nd.array(questions[:4])]
    empty = np.broadcast_to(~stories[:4].any(axis=2)[:, None, :], (4, 3, stories.shape[1]))
    assert empty.any()  # some stories leave slots empty
    seen = []
    for epoch in (0, 1, 2, 3):
        task.start_epoch(model, epoch)
        scores, attention = [o.asnumpy() for o in model(*inputs)]
        assert attention.shape == (4, 3, stories.shape[1])
        seen.append(attention)
    # Linear start: raw scores, 0 for the empty (zero) memories, some negative.
    assert not seen[0][empty].any() and (seen[0] < 0).any()
    np.testing.assert_array_equal(seen[0], seen[1])
    # The softmax back on: every hop a distribution over all slots, empty ones included.
    assert (seen[2] > 0).all() and (seen[2][empty] > 0).all()
    np.testing.assert_allclose(seen[2].sum(axis=2), 1.0, rtol=1e-5)
    assert [task.lr_schedule(e, 100) for e in range(7)] == [0.5, 0.5, 1.0, 1.0, 0.5, 0.5, 0.5]


def test_random_noise_pads_training_stories_only(tmp_path):
    task = _task(tmp_path, time_noise=1.0)
    plain = np.concatenate([b.inputs[0] for b in super(type(task), task).train_batches(0, 16)])
    noisy = np.concatenate([b.inputs[0] for b in task.train_batches(0, 16)])
    again = np.concatenate([b.inputs[0] for b in task.train_batches(0, 16)])
    np.testing.assert_array_equal(noisy, again)  # drawn from the run's seed and the epoch
    moved = [i for i in range(len(plain)) if not np.array_equal(plain[i], noisy[i])]
    assert moved  # some stories got blank memories ...
    for i in range(len(plain)):  # ... and every story keeps its sentences, in order
        np.testing.assert_array_equal(plain[i][plain[i].any(axis=1)],
                                      noisy[i][noisy[i].any(axis=1)])
    evaluated = next(task.eval_batches("test", 1000)).inputs[0]
    np.testing.assert_array_equal(evaluated, task._split("test")[0])
    quiet = _task(tmp_path, time_noise=0.0)
    assert all(np.array_equal(a.inputs[0], b.inputs[0]) for a, b in zip(
        quiet.train_batches(0, 16), super(type(quiet), quiet).train_batches(0, 16)))


# -- options, joint training, export --------------------------------------------------------
def test_task_option_takes_a_number_or_all_and_old_configs_still_load():
    assert babi_task.task_number("all") == "all" and babi_task.task_number("7") == 7
    with pytest.raises(argparse.ArgumentTypeError):
        babi_task.task_number("seven")
    with pytest.raises(UserError, match="--task 21"):
        babi_task.BabiTask.make_options({"qa": 21})
    old = babi_task.BabiTask.make_options({"qa": 3, "subset": "en"})  # a pre-memn2n config
    assert old.qa == 3 and old.model == "source"


def test_joint_training_reports_each_tasks_test_accuracy(tmp_path):
    members = {babi_data.member_name(n, "en", split): synthetic_qa1_text(6, n * 2 + seed)
               for n in babi_data.TASK_NAMES for seed, split in enumerate(("train", "test"))}
    options = dict(babi_task.BabiTask.tiny_options, model="memn2n", qa="all",
                   tarball=str(write_tarball(tmp_path / "all.tar.gz", members)))
    task = babi_task.BabiTask.for_options(babi_task.BabiTask.make_options(options))
    task.prepare()
    assert task.test_splits == ("test",) + tuple(f"test_qa{n}" for n in range(1, 21))
    assert len(task._split("test")[2]) == 20 * 6 and len(task._split("test_qa20")[2]) == 6


@pytest.mark.parametrize("options", [{}, {"model": "entnet", "slots": 3}])
def test_export_predicts_like_the_live_model_and_converts_to_onnx(tmp_path, options):
    """MemN2N (3 hops) and EntNet (3 memory blocks) alike."""
    task = _task(tmp_path, **options)
    model = _model(task)
    folder = export_model(task, model, tmp_path / "export")
    meta = json.loads((folder / "meta.json").read_text())
    assert [o["shape"] for o in meta["outputs"]] == [[-1, task.codec().vocab_size],
                                                     [-1, 3, task.codec().memory_size]]
    exported = load_predictor(folder)
    example = task.example_inputs()
    live = model(*[mx.nd.array(a) for a in task.codec().encode(example)])  # scores only
    assert exported.predict(example) == task.codec().decode([live.asnumpy()])
    pytest.importorskip("onnxruntime")
    from gluon_seq.exporting.onnx import export_onnx

    export_onnx(folder)
    assert json.loads((folder / "onnx.json").read_text())["max_abs_diff_vs_mxnet"] < 1e-5
    onnx = load_predictor(folder, "onnxruntime")
    assert onnx.predict(example) == exported.predict(example)


def test_the_model_brings_its_own_training_and_presets_add_only_sizes():
    """--model memn2n alone trains as the reference code does; --preset memn2n adds only
    the reference's sizes; a flag still wins."""
    from gluon_seq import RunConfig

    alone = RunConfig.for_task("babi", options={"model": "memn2n"})
    assert (alone.optimizer, alone.lr, alone.clip, alone.epochs) == ("sgd", 0.32, 1.25, 120)
    preset = RunConfig.for_task("babi", preset="memn2n")
    assert (preset.optimizer, preset.lr, preset.clip, preset.epochs) == ("sgd", 0.32, 1.25, 120)
    assert preset.options == {"model": "memn2n", "subset": "en", "embed": 20}
    assert RunConfig.for_task("babi", options={"model": "memn2n"}, lr=0.1).lr == 0.1
    source = RunConfig.for_task("babi")
    assert (source.optimizer, source.lr) == ("rmsprop", 0.001)


def test_clip_bounds_each_weight_matrix_by_its_largest_singular_value(tmp_path):
    """--clip-norm each-matrix clips as MemN2N's reference (Weight.m) does: every matrix on
    its own, by MATLAB's norm of a matrix (the largest singular value); global by default."""
    from gluon_seq.training.loop import spectral_norm

    rng = np.random.RandomState(0)
    big, small = rng.randn(11, 6).astype(np.float32) * 5, rng.randn(7, 6).astype(np.float32) * 1e-3
    for array in (big, small, big[:, :1]):
        np.testing.assert_allclose(spectral_norm(mx.nd.array(array)).asscalar(),
                                   np.linalg.norm(array, 2), rtol=1e-4)
    np.testing.assert_allclose(spectral_norm(mx.nd.array(big[0])).asscalar(),
                               np.linalg.norm(big[0]), rtol=1e-5)
    assert babi_task.BabiTask.make_options({}).clip_norm == "global"
    assert _task(tmp_path, clip_norm="each-matrix").clip_norm == "each-matrix"

    from gluon_seq.training.loop import Fitter

    class Params:  # the two gradients a Fitter clips, as parameters
        def __init__(self):
            self.grads = [mx.nd.array(big), mx.nd.array(small)]

        def values(self):
            return [type("P", (), {"grad_req": "write", "grad": lambda s, ctx, g=g: g})()
                    for g in self.grads]

    fitter = Fitter.__new__(Fitter)
    params = Params()
    fitter.model = type("M", (), {"collect_params": lambda s: params})()
    fitter.contexts = [mx.cpu()]
    fitter.task = type("T", (), {"clip_norm": "each-matrix"})()
    fitter._clip_gradients(1.25)
    np.testing.assert_allclose(np.linalg.norm(params.grads[0].asnumpy(), 2), 1.25, rtol=1e-4)
    np.testing.assert_array_equal(params.grads[1].asnumpy(), small)  # under the bound: as it was
