"""bAbI: the reader, the codec, the memory network's export, predict and the attention plot."""
import json
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_seq.data import babi as babi_data
from gluon_seq.data.generated import write_qa1_tarball
from gluon_seq.models.memnn import attention_weights
from gluon_seq.plots import plot_run_attention
from gluon_seq.codecs.babi import BabiCodec
from gluon_seq.data import data_root
from gluon_seq.util.errors import UserError
from gluon_seq.exporting.writer import export_model
from gluon_seq.serving import load_predictor
from gluon_seq.plots import save_attention_heatmap
from gluon_seq.tasks import babi as babi_task
from gluon_seq.rnn import LayerFactory

FIXTURE = """\
1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary?\tbathroom\t1
4 Daniel went back to the hallway.
5 Sandra moved to the garden.
6 Where is Daniel?\thallway\t4
1 John travelled to the office.
2 Where is John?\toffice\t1
"""
REAL_TARBALL = data_root(None) / babi_task.TARBALL


def test_stories_reset_at_id_1_and_questions_see_every_earlier_statement():
    samples = babi_data.parse_stories(FIXTURE.splitlines())
    assert [s.answer for s in samples] == ["bathroom", "hallway", "office"]
    assert samples[0].story == "Mary moved to the bathroom . John went to the hallway .".split()
    assert samples[0].question == ["Where", "is", "Mary", "?"]
    assert samples[1].supporting == (4,)
    assert len(samples[1].story) == 25  # 4 statements (6+6+7+6 tokens), the question excluded
    assert samples[2].story == "John travelled to the office .".split()  # new story


def test_only_supporting_keeps_the_supporting_facts_alone():
    samples = babi_data.parse_stories(FIXTURE.splitlines(), only_supporting=True)
    assert samples[1].story == "Daniel went back to the hallway .".split()
    assert samples[0].story == "Mary moved to the bathroom .".split()


def test_a_bad_line_is_reported():
    with pytest.raises(ValueError, match="line 1"):
        babi_data.parse_stories(["Mary moved."])


@pytest.fixture
def fixture_tarball(tmp_path, monkeypatch):
    """A tiny tarball with en qa1 train/test, served to the task instead of the real file."""
    path = write_qa1_tarball(tmp_path / "babi.tar.gz")
    monkeypatch.setattr(babi_task, "locate", lambda relpath, data_dir=None: path)
    return path


def test_a_missing_member_is_a_user_error_naming_it(fixture_tarball):
    with pytest.raises(UserError, match="qa2_two-supporting-facts_test.txt"):
        babi_data.load_split(fixture_tarball, 2, "en", "test")
    assert len(babi_data.load_split(fixture_tarball, 1, "en", "train")) == 120


@pytest.mark.skipif(not REAL_TARBALL.is_file(), reason="shared bAbI data absent")
def test_real_qa1_10k_has_10000_training_questions():
    samples = babi_data.load_split(REAL_TARBALL, 1, "en-10k", "train")
    assert len(samples) == 10000
    assert samples[0].story[:5] == ["Mary", "moved", "to", "the", "bathroom"]


@pytest.mark.skipif(not REAL_TARBALL.is_file(), reason="shared bAbI data absent")
def test_real_10k_qa3_fails_naming_the_missing_member():
    task = babi_task.BabiTask(babi_task.BabiTask.make_options({"qa": 3, "subset": "en-10k"}))
    with pytest.raises(UserError, match="en-10k/qa3_three-supporting-facts_train.txt"):
        task.prepare()


def _tiny_task(attention="query", read="question"):
    options = babi_task.BabiTask.make_options(
        {"qa": 1, "subset": "en", "embed": 8, "hidden": 6, "attention": attention, "read": read})
    task = babi_task.BabiTask(options)
    task.prepare()
    return task


@pytest.mark.parametrize("backend,attention,read", [
    ("fused", "query", "question"), ("unfused", "story", "question"),
    ("fused", "query", "story"), ("unfused", "query", "story")])
def test_export_reproduces_the_live_model(fixture_tarball, tmp_path, backend, attention, read):
    task = _tiny_task(attention, read)
    model = task.build_model(LayerFactory(backend))
    steps = task.codec().query_maxlen if read == "question" else task.codec().story_maxlen
    assert model.lstm._length == steps
    model.initialize(task.initializer())
    model.hybridize(static_alloc=True, static_shape=True)
    folder = export_model(task, model, tmp_path / "export")
    exported = load_predictor(folder)
    batch = next(task.eval_batches("test", 16))
    # The live model gives the answer scores; the export gives them, then the match weights.
    live = model(*[mx.nd.array(a) for a in batch.inputs], *model.begin_state(16)).asnumpy()
    assert live.shape == (16, task.codec().vocab_size)
    got = exported.run(list(batch.inputs))
    assert len(got) == 2
    np.testing.assert_allclose(got[0], live, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[1], model.attention(*[mx.nd.array(a) for a in batch.inputs]),
                               rtol=1e-6, atol=1e-6)
    example = task.example_inputs()
    assert exported.predict(example) == task.codec().decode(
        [model(*[mx.nd.array(a) for a in task.codec().encode(example)],
               *model.begin_state(len(example))).asnumpy()])
    # The match weights are a softmax over the chosen axis.
    weights, story, question = attention_weights(
        model, task.codec(), example[0]["story"], example[0]["question"])
    full = model.attention(*[mx.nd.array(a) for a in task.codec().encode(example[:1])])[0]
    np.testing.assert_allclose(full.sum(axis=1 if attention == "query" else 0), 1.0, rtol=1e-5)
    assert weights.shape == (len(story), len(question))


def test_codec_rejects_unknown_words_listing_the_vocabulary():
    codec = BabiCodec(["Mary", "Where", "bathroom", "is", "moved", "the", "to", ".", "?"], 12, 4)
    with pytest.raises(UserError) as info:
        codec.encode([{"story": "Mary flew to Paris.", "question": "Where is Mary?"}])
    message = str(info.value)
    assert "Paris, flew" in message and "bathroom" in message and "\n" not in message
    with pytest.raises(UserError, match="at most 4"):
        codec.encode([{"story": "Mary moved.", "question": "Where is the Mary ?"}])
    with pytest.raises(UserError, match="both"):
        codec.parse_cli([], story="Mary moved.")
    ids = codec.encode([{"story": "Mary moved.", "question": "Where is Mary?"}])
    assert ids[0].tolist() == [[0] * 9 + [1, 5, 8]]  # left-padded, ids from 1


def test_predict_cli_answers_and_rejects_unknown_words(fixture_tarball, tmp_path):
    task = _tiny_task()
    model = task.build_model(LayerFactory("fused"))
    model.initialize(task.initializer())
    folder = export_model(task, model, tmp_path / "export")
    base = [sys.executable, "-m", "gluon_seq", "predict", str(folder)]
    ok = subprocess.run(base + ["--story", "Mary went to the garden.", "--question",
                                "Where is Mary?"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("Where is Mary? ")
    bad = subprocess.run(base + ["--story", "Mary flew to Rome.", "--question", "Where is Mary?"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Rome" in bad.stderr and "Traceback" not in bad.stderr


def test_attention_plot_of_a_trained_run_is_written(fixture_tarball, tmp_path):
    from gluon_seq import RunConfig
    from gluon_seq.training.workflow import train

    config = RunConfig.for_task("babi", epochs=2, rnn_backend="fused",
                                options={"subset": "en", "embed": 8, "hidden": 6})
    metrics = train(config, tmp_path / "run", log=lambda line: None)
    assert 0.0 <= metrics["value"] <= 1.0
    assert json.loads((tmp_path / "run" / "codec.json").read_text())["query_maxlen"] == 4
    png = plot_run_attention(tmp_path / "run", "John went to the office. Mary went "
                                       "to the garden.", "Where is Mary?", tmp_path / "att.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="do not match"):
        save_attention_heatmap(np.ones((2, 2)), ["a"], ["b", "c"], tmp_path / "x.png")


def test_task_flag_takes_all_through_the_cli_and_refuses_other_words():
    from gluon_seq.cli.commands import _train_parser

    assert _train_parser("babi").parse_args(["babi", "--task", "all"]).opt_qa == "all"
    assert _train_parser("babi").parse_args(["babi", "--task", "12"]).opt_qa == 12
    with pytest.raises(UserError, match="'every' is not a bAbI task number"):
        _train_parser("babi").parse_args(["babi", "--task", "every"])


def test_memn2n_training_runs_linear_start_then_the_softmax_and_resumes(fixture_tarball,
                                                                         tmp_path):
    from gluon_seq import RunConfig
    from gluon_seq.training.workflow import train

    options = {"subset": "en", "model": "memn2n", "embed": 6, "linear_start": 2, "anneal": 0}
    config = RunConfig.for_task("babi", epochs=2, lr=0.1, optimizer="sgd", options=options)
    train(config, tmp_path / "run", log=lambda line: None)
    mix = "softmax_mix"  # save_parameters names a parameter by its attribute
    assert mx.nd.load(str(tmp_path / "run" / "last.params"))[mix].asscalar() == 0.0
    resumed = RunConfig.for_task("babi", epochs=3, lr=0.1, optimizer="sgd", options=options)
    metrics = train(resumed, tmp_path / "run", resume=True, log=lambda line: None)
    assert metrics["epochs"] == 3
    assert mx.nd.load(str(tmp_path / "run" / "last.params"))[mix].asscalar() == 1.0
    rates = [float(row.split(",")[-1]) for row in
             (tmp_path / "run" / "log.csv").read_text().splitlines()[1:]]
    assert rates == pytest.approx([0.05, 0.05, 0.1])  # half the rate during linear start
    meta = json.loads((tmp_path / "run" / "export" / "meta.json").read_text())
    assert meta["codec"]["type"] == "babi-memory" and len(meta["outputs"]) == 2


@pytest.mark.skipif(not REAL_TARBALL.is_file(), reason="shared bAbI data absent")
def test_real_qa3_memories_keep_the_latest_50_sentences():
    options = babi_task.BabiTask.make_options({"qa": 3, "subset": "en", "model": "memn2n"})
    task = babi_task.BabiTask.for_options(options)
    task.prepare()
    stories = task._split("train")[0]
    train, _ = task.load_samples()
    assert max(len(s.sentences) for s in train) > 50 and stories.shape[1] == 50
    longest = max(train, key=lambda s: len(s.sentences))
    newest = task.codec().encode_tokens([(longest.sentences, longest.question)])[0][0, -1]
    assert [task.codec().vocab[i - 1] for i in newest if i] == list(longest.sentences[-1])
