"""PTB word language model: reader, BPTT batching, state carry, export, generation."""
import json
import math
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_seq.data import ptb as ptb_data
from gluon_seq.codecs.words import WordCodec, normalize
from gluon_seq.data import default_data_dir
from gluon_seq.util.errors import UserError
from gluon_seq.exporting.writer import export_model
from gluon_seq.serving import load_predictor
from gluon_seq.data.generated import write_synthetic_corpus
from gluon_seq.tasks.ptb import PtbTask
from gluon_seq import RunConfig
from gluon_seq.training.workflow import train
from gluon_seq.rnn import LayerFactory

REAL_TRAIN = default_data_dir() / "ptb" / "ptb.train.txt"
QUIET = dict(log=lambda line: None)


@pytest.fixture
def fixture_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(" the cat sat \n the dog <unk> sat \n the cat \n")
    return path


def test_reader_appends_one_eos_per_line(fixture_file):
    tokens = ptb_data.read_tokens(fixture_file)
    assert tokens == ["the", "cat", "sat", "<eos>", "the", "dog", "<unk>", "sat", "<eos>",
                      "the", "cat", "<eos>"]


def test_vocab_is_the_distinct_tokens_most_frequent_first(fixture_file):
    vocab = ptb_data.build_vocab(ptb_data.read_tokens(fixture_file))
    assert vocab == ["<eos>", "the", "cat", "sat", "<unk>", "dog"]
    assert ptb_data.build_vocab(["a", "b", "a"]) == ["a", "b", "<unk>"]  # <unk> guaranteed
    ids = ptb_data.to_ids(["the", "zebra"], {w: i for i, w in enumerate(vocab)})
    assert ids.tolist() == [1, 4] and ids.dtype == np.int32


@pytest.mark.skipif(not REAL_TRAIN.is_file(), reason="shared PTB data not on this machine")
def test_real_train_file_has_929589_tokens_and_10000_words():
    tokens = ptb_data.read_tokens(REAL_TRAIN)
    vocab = ptb_data.build_vocab(tokens)
    assert len(tokens) == 929_589
    assert len(vocab) == 10_000 and "<unk>" in vocab and "<eos>" in vocab


def test_batchify_rows_are_contiguous_text():
    rows = ptb_data.batchify(np.arange(26), 4)
    assert rows.shape == (4, 6)
    assert rows[1].tolist() == [6, 7, 8, 9, 10, 11]
    with pytest.raises(UserError, match="too few"):
        ptb_data.batchify(np.arange(5), 4)


def test_bptt_windows_shift_labels_and_continue_across_batches():
    rows = ptb_data.batchify(np.arange(1000), 5)  # (5, 200)
    windows = list(ptb_data.bptt_windows(rows, 30))
    assert len(windows) == ptb_data.count_windows(1000, 5, 30) == 6  # 199 usable -> 6 full
    for data, label in windows:
        assert data.shape == label.shape == (5, 30)
        np.testing.assert_array_equal(label[:, :-1], data[:, 1:])
        np.testing.assert_array_equal(label, data + 1)  # next token of a counting stream
    for (_, label), (data, _) in zip(windows, windows[1:]):
        np.testing.assert_array_equal(data[:, 0], label[:, -1])


def test_shards_are_equal_contiguous_pieces():
    ids = np.arange(103)
    pieces = [ptb_data.shard_stream(ids, rank, 3) for rank in range(3)]
    assert [len(p) for p in pieces] == [34, 34, 34]
    assert pieces[1].tolist() == list(range(34, 68))


def test_task_shards_training_data_without_shuffling(tmp_path):
    task = PtbTask.tiny(tmp_path)
    task.prepare()
    first = [b.inputs[0].copy() for b in task.train_batches(0, 4)]
    again = [b.inputs[0] for b in task.train_batches(1, 4)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # epochs identical: no shuffle
    stream = task._ids["train"]
    task.shard(1, 2)
    batch = next(task.train_batches(0, 4))
    half = len(stream) // 2
    np.testing.assert_array_equal(batch.inputs[0][0], stream[half:half + 5])


def test_presets_reproduce_zaremba_updates_with_a_mean_loss():
    small = RunConfig.for_task("ptb", preset="small")
    assert small.optimizer == "sgd" and small.lr == 20.0 and small.clip == pytest.approx(0.25)
    assert small.options["num_steps"] == 20 and small.epochs == 13
    task = PtbTask(PtbTask.make_options(small.options))
    assert [task.lr_schedule(e, 13) for e in (0, 3, 4, 5)] == [1.0, 1.0, 0.5, 0.25]


def _tiny_config(tmp_path, **overrides):
    corpus = write_synthetic_corpus(tmp_path / "corpus")
    options = {"embed": 16, "hidden": 32, "num_steps": 5, "dropout": 0.0, "corpus": str(corpus)}
    options.update(overrides.pop("options", {}))
    values = dict(epochs=2, batch_size=4, lr=0.01, options=options)
    values.update(overrides)
    return RunConfig.for_task("ptb", **values)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ptb")
    metrics = train(_tiny_config(folder, epochs=6), folder / "run", **QUIET)
    return folder / "run", metrics


def test_training_through_the_common_loop_learns_the_repeating_corpus(trained):
    run_dir, metrics = trained
    assert metrics["metric"] == "perplexity" and set(metrics["splits"]) == {"test", "valid"}
    ppl = metrics["splits"]["test"]["perplexity"]
    assert math.isfinite(ppl) and ppl < 3.0, ppl  # four repeating sentences: nearly certain
    assert metrics["splits"]["test"]["accuracy"] > 0.6
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["value"] == pytest.approx(ppl)


def test_carried_state_is_what_makes_the_next_word_predictable(trained):
    from gluon_seq.tasks.metrics import Perplexity
    from gluon_seq.training.loop import evaluate
    from gluon_seq.training.run_folder import load_run

    _, task, model, contexts = load_run(trained[0], with_data=True)
    carried = evaluate(model, task, "test", contexts, 4)["perplexity"]
    reset = Perplexity()  # every window starts from zero states instead
    for batch in task.eval_batches("test", 4):
        logits = model(mx.nd.array(batch.inputs[0]), *model.begin_state(batch.size))[0]
        reset.update(logits, mx.nd.array(batch.label))
    assert carried < reset.value()  # a window's first words are guessable only with context


def test_lr_schedule_is_applied_per_epoch(tmp_path):
    config = _tiny_config(tmp_path, epochs=3, optimizer="sgd", lr=0.8,
                          options={"lr_decay": 0.5, "decay_after": 1})
    train(config, tmp_path / "run", **QUIET)
    rows = (tmp_path / "run" / "log.csv").read_text().strip().splitlines()[1:]
    assert [float(r.split(",")[-1]) for r in rows] == [0.8, 0.4, 0.2]


def test_export_reproduces_the_live_model(tmp_path):
    task = PtbTask.tiny(tmp_path)
    task.prepare()
    model = task.build_model(LayerFactory("fused"))
    model.initialize(task.initializer())
    folder = export_model(task, model, tmp_path / "export")
    arrays = task.codec().encode(task.example_inputs())
    live = model(mx.nd.array(arrays[0]), *model.begin_state(2))
    got = load_predictor(folder).run(arrays)
    assert [g.shape for g in got] == [(2, 3, len(task.codec().vocab)), (2, 2, 8), (2, 2, 8)]
    for a, b in zip(got, live):
        np.testing.assert_allclose(a, b.asnumpy(), rtol=1e-6, atol=1e-6)


def test_unfused_kernel_matches_fused_and_refuses_other_lengths(tmp_path):
    task = PtbTask.tiny(tmp_path)
    task.prepare()
    fused, unfused = task.build_model(LayerFactory("fused")), task.build_model(LayerFactory("unfused"))
    fused.initialize(task.initializer())
    fused.save_parameters(str(tmp_path / "w.params"))
    unfused.load_parameters(str(tmp_path / "w.params"))
    unfused.hybridize()
    window = mx.nd.array(next(task.eval_batches("valid", 0)).inputs[0])  # (10, num_steps)
    rows = window.shape[0]
    for a, b in zip(fused(window, *fused.begin_state(rows)),
                    unfused(window, *unfused.begin_state(rows))):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(UserError, match="fused"):
        export_model(task, unfused, tmp_path / "export")


def test_generation_is_greedy_deterministic_and_reports_unknown_words(trained):
    model = load_predictor(trained[0] / "export")
    answers = model.predict(["the company said", {"prompt": "The Zebra said", "words": 4}])
    assert answers[0]["text"].split() == ["it", "expects", "N", "sales", "<eos>", "the",
                                          "market", "fell", "N", "points"]
    assert answers[1]["unknown"] == ["zebra"] and answers[1]["prompt"] == "the <unk> said"
    assert len(answers[1]["text"].split()) == 4
    assert model.predict(["the company said"]) == answers[:1]


def test_generation_carries_states_like_one_long_run(trained):
    # Feeding the prompt then one word at a time must equal one call on the whole text.
    model = load_predictor(trained[0] / "export")
    codec = model.codec
    ids = codec.ids(normalize("the bank said profit rose"))[None, :]
    whole = model.run([ids])[0][0, -1]
    logits, *states = model.run([ids[:, :2]])
    for t in range(2, ids.shape[1]):
        logits, *states = model.run([ids[:, t:t + 1]], states)
    np.testing.assert_allclose(logits[0, -1], whole, rtol=1e-5, atol=1e-5)


def test_sampling_depends_on_the_seed_only(trained):
    model = load_predictor(trained[0] / "export")
    ask = lambda seed: model.predict([{"prompt": "the", "words": 12, "temperature": 5.0,
                                       "seed": seed}])[0]["text"]
    assert ask(1) == ask(1)
    assert len({ask(seed) for seed in range(4)}) > 1


def test_codec_rejects_bad_requests():
    codec = WordCodec(["<eos>", "<unk>", "the"])
    for bad, phrase in [("   ", "empty"), ({"prompt": "the", "words": 0}, "words"),
                        ({"prompt": "the", "temperature": -1}, "temperature"),
                        ({"text": "the"}, "prompt"), (3, "prompt")]:
        with pytest.raises(UserError, match=phrase):
            codec.request(bad)
    assert normalize("Sales rose 3.5 %") == ["sales", "rose", "N", "%"]
    assert codec.encode(["the", "the the"])[0].tolist() == [[0, 2], [2, 2]]  # <eos> left-pad


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "gluon_seq", *map(str, args)],
                          capture_output=True, text=True)


@pytest.mark.slow
def test_predict_cli_generates_and_rejects_an_empty_prompt(trained):
    export = trained[0] / "export"
    good = _cli("predict", export, "the market", "--words", 3, "--temperature", 0)
    assert good.returncode == 0, good.stderr
    expected = load_predictor(export).predict([{"prompt": "the market", "words": 3}])[0]["text"]
    assert good.stdout.strip() == f"the market → {expected}" and len(expected.split()) == 3
    options_first = _cli("predict", export, "--words", 3, "--temperature", 0, "the market")
    assert options_first.stdout == good.stdout, options_first.stderr
    bad = _cli("predict", export, "")
    assert bad.returncode == 2 and "empty" in bad.stderr and "Traceback" not in bad.stderr


def test_split_ids_are_the_streams_the_batches_read_cut_to_the_token_options(tmp_path):
    task = PtbTask.tiny(tmp_path, train_tokens=60, eval_tokens=40)
    with pytest.raises(ValueError, match="prepare"):
        task.split_ids("train")
    task.prepare()
    assert [len(task.split_ids(s)) for s in ("train", "valid", "test")] == [60, 40, 40]
    batch = next(task.train_batches(0, 4))
    np.testing.assert_array_equal(batch.inputs[0][1], task.split_ids("train")[15:20])  # row 1
    with pytest.raises(ValueError, match="one of train, valid, test"):
        task.eval_batches("dev", 4)
