"""Alphabet, count-ones and sentiment (IMDB + web traffic): data, codecs, tiny
convergence through the one training path, and predict from the export."""
import json
import subprocess
import sys

import numpy as np
import pytest
from fixture_data import tiny_imdb_task, write_imdb_tarball

from gluon_seq.data import imdb as imdb_data
from gluon_seq.data import web_traffic
from gluon_seq.codecs.symbols import SymbolCodec
from gluon_seq.codecs.text import TextCodec, tokenize_words
from gluon_seq.data import data_root
from gluon_seq.util.errors import UserError
from gluon_seq.exporting.writer import export_model
from gluon_seq.serving import load_predictor
from gluon_seq.tasks import get
from gluon_seq.data.generated import bits_of
from gluon_seq import RunConfig
from gluon_seq.training.workflow import train
from gluon_seq.rnn import LayerFactory


def _train(tmp_path, task, **overrides):
    options = overrides.pop("options", {})
    config = RunConfig.for_task(task, options=options, **overrides)
    return train(config, tmp_path / task, log=lambda line: None)


def _predict(export, *args):
    return subprocess.run([sys.executable, "-m", "gluon_seq", "predict", str(export), *args],
                          capture_output=True, text=True, timeout=120)


# -- symbols codec --------------------------------------------------------------------------
@pytest.mark.parametrize("bad, message", [
    ("AB", "exactly 3"), ("ABCD", "exactly 3"), ("A1C", "outside"), ("", "empty"), (7, "not a string")])
def test_symbol_codec_names_the_problem(bad, message):
    codec = SymbolCodec("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 3, list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                        fold_case=True)
    with pytest.raises(UserError, match=message):
        codec.encode([bad])


def test_symbol_codec_folds_case_and_round_trips_its_meta():
    codec = SymbolCodec("ABC", 2, ["x", "y", "z"], fold_case=True)
    np.testing.assert_array_equal(codec.encode(["ab", "CA"])[0], [[0, 1], [2, 0]])
    again = SymbolCodec.from_meta(codec.to_meta())
    assert again.decode([np.array([[0.1, 0.9, 0.0], [3.0, 0.0, 0.0]])]) == ["y", "x"]


# -- alphabet --------------------------------------------------------------------------------
def test_alphabet_windows_are_the_next_letter_problems():
    task = get("alphabet")(get("alphabet").make_options({"seq_length": 3}))
    assert task.inputs.shape == (23, 3)
    assert "".join(chr(65 + i) for i in task.inputs[0]) == "ABC"
    assert chr(65 + task.labels[0]) == "D" and chr(65 + task.labels[-1]) == "Z"


@pytest.mark.slow
def test_alphabet_reaches_100_percent_and_predicts_from_its_export(tmp_path):
    metrics = _train(tmp_path, "alphabet", epochs=150, batch_size=23, lr=0.05,
                     options={"encoding": "onehot", "hidden": 16})
    assert metrics["value"] == 1.0
    result = _predict(tmp_path / "alphabet" / "export", "abc", "WXY")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["ABC -> D", "WXY -> Z"]
    bad = _predict(tmp_path / "alphabet" / "export", "AB1")
    assert bad.returncode == 2 and "outside" in bad.stderr and "Traceback" not in bad.stderr


# -- count-ones -------------------------------------------------------------------------------
def test_bits_are_most_significant_first():
    np.testing.assert_array_equal(bits_of(np.array([5, 0]), 4), [[0, 1, 0, 1], [0, 0, 0, 0]])


def test_count_ones_tests_on_every_string_it_did_not_train_on_in_bounded_batches():
    task = get("count-ones")()
    train_ids, test_ids = set(task.train_ids.tolist()), task.test_ids
    assert len(train_ids) == 10_000 and len(test_ids) == 1_038_576
    assert not train_ids & set(test_ids[:50_000].tolist())
    assert len(set(task.order.tolist())) == 1 << 20
    sizes, seen = [], 0
    for batch in task.eval_batches("test", 1000):
        sizes.append(batch.size)
        seen += batch.size
        np.testing.assert_array_equal(batch.label, batch.inputs[0].sum(axis=1))
    assert seen == 1_038_576 and max(sizes) == 8192  # streamed, never one huge array


@pytest.mark.slow
def test_count_ones_learns_8_bit_strings(tmp_path):
    metrics = _train(tmp_path, "count-ones", epochs=40, batch_size=16, lr=0.02, clip=5.0,
                     options={"bits": 8, "train_size": 160, "valid_size": 48, "hidden": 12})
    assert metrics["value"] >= 0.95, metrics
    result = _predict(tmp_path / "count-ones" / "export", "11100001")
    assert result.stdout.strip() == "11100001 has 4 ones", result.stdout + result.stderr


# -- sentiment ----------------------------------------------------------------------------------
def test_tokenizer_lowercases_drops_line_breaks_and_splits_punctuation():
    assert tokenize_words("A <br />Great film, isn't it?<br/>") == \
        ["a", "great", "film", ",", "isn't", "it", "?"]


def test_text_codec_pads_left_truncates_from_the_front_and_maps_unknowns():
    codec = TextCodec(["<unk>", "<pad>", "good", "film"], maxlen=3)
    np.testing.assert_array_equal(codec.encode(["good film", "bad bad good film"])[0],
                                  [[1, 2, 3], [0, 2, 3]])
    with pytest.raises(UserError, match="empty"):
        codec.encode(["  <br /> "])
    answer = codec.decode([np.array([[2.0], [-1.0]])])
    assert answer[0]["label"] == "positive" and answer[0]["probability"] == pytest.approx(0.880797)
    assert answer[1]["label"] == "negative" and answer[1]["probability"] == pytest.approx(0.731059)


def test_imdb_reader_reads_tarball_and_extracted_folder_alike(tmp_path):
    rows = {"train": [("bad", 0), ("good", 1), ("meh", 0)], "test": [("fine", 1)]}
    tarball = write_imdb_tarball(tmp_path / "imdb.tar.gz", rows)
    from_tar = imdb_data.read_imdb(tarball)
    assert from_tar["train"] == (["bad", "meh", "good"], [0, 0, 1])
    import tarfile
    with tarfile.open(tarball) as archive:
        archive.extractall(tmp_path / "x")
    assert imdb_data.read_imdb(tmp_path / "x") == from_tar
    assert imdb_data.read_imdb(tmp_path / "x" / "aclImdb") == from_tar
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="aclImdb layout"):
        imdb_data.read_imdb(tmp_path / "empty")


REAL_IMDB = data_root(None) / imdb_data.TARBALL


@pytest.mark.slow
@pytest.mark.skipif(not REAL_IMDB.is_file(), reason="../shared/data/imdb is not on this machine")
def test_real_imdb_has_25000_balanced_reviews_per_split():
    counts = imdb_data.count_reviews(REAL_IMDB)
    assert counts == {"train": {"neg": 12500, "pos": 12500}, "test": {"neg": 12500, "pos": 12500}}


@pytest.mark.slow
def test_sentiment_trains_exports_and_predicts_raw_text(tmp_path, monkeypatch):
    from gluon_seq.tasks import sentiment

    smoke = tiny_imdb_task(tmp_path)
    monkeypatch.setattr(sentiment, "locate", lambda relpath, data_dir=None: smoke.tarball)
    metrics = _train(tmp_path, "sentiment", epochs=15, batch_size=8, lr=0.02,
                     options={"vocab_size": 20, "maxlen": 12, "embed": 4, "hidden": 5})
    assert metrics["value"] == 1.0, metrics
    export = tmp_path / "sentiment" / "export"
    meta = json.loads((export / "meta.json").read_text())
    assert meta["codec"]["type"] == "text" and len(meta["codec"]["vocab"]) <= 20
    result = _predict(export, "superb great fine moving film. The end",
                      "Awful, boring zzzunknown bad film. <br />The end")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert "-> positive" in first and "-> negative" in second
    empty = _predict(export, "   ")
    assert empty.returncode == 2 and "empty" in empty.stderr and "Traceback" not in empty.stderr


def test_web_traffic_data_is_deterministic_balanced_and_the_preset_reads_characters():
    texts, labels = web_traffic.generate(200, seed=3)
    assert (texts, labels) == web_traffic.generate(200, seed=3)
    assert sum(labels) == 100 and all(t.endswith(" HTTP/1.1") for t in texts)
    config = RunConfig.for_task("sentiment", preset="web-traffic",
                                options={"traffic_size": 200})
    assert config.optimizer == "rmsprop"
    task = get("sentiment")(get("sentiment").make_options(config.options))
    task.prepare()
    codec = task.codec()
    assert codec.unit == "chars" and len(codec.vocab) <= 1024 and codec.maxlen == 128
    assert codec.labels == ["benign", "malicious"]


def test_the_pooled_preset_sets_options_and_run_values_alike():
    config = RunConfig.for_task("sentiment", preset="pooled")
    assert config.batch_size == 32 and config.options["pooling"] == "max"
    assert get("sentiment").make_options(config.options).embed_dropout == 0.4
    config = RunConfig.for_task("sentiment", preset="bilstm")
    options = get("sentiment").make_options(config.options)
    assert config.epochs == 4 and options.bidirectional and options.word_dropout == 0.2
    assert options.pooling == "max"  # what --bidirectional needs


def test_max_pooling_reads_only_the_real_steps():
    import mxnet as mx

    from gluon_seq.models.classifier import SequenceClassifier

    model = SequenceClassifier(2, 4, 5, LayerFactory("fused"), inputs="embed", vocab_size=9, embed=3,
                               pooling="max", pad_id=1, prefix="pool_")
    model.initialize(mx.init.Xavier())
    ids = np.array([[1, 1, 1, 2, 3], [1, 4, 5, 6, 7]])
    outputs, _ = model.lstm(mx.nd.array(model.lstm_inputs(ids)), model.lstm.begin_state(2))
    outputs = outputs.asnumpy()                                       # (T, N, H)
    pooled = np.stack([outputs[3:, 0].max(axis=0), outputs[1:, 1].max(axis=0)])
    expected = model.output(mx.nd.array(pooled)).asnumpy()
    got = model(mx.nd.array(ids), *model.begin_state(2)).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_word_dropout_drops_whole_tokens_in_training_only():
    import mxnet as mx

    from gluon_seq.models.classifier import SequenceClassifier

    model = SequenceClassifier(1, 4, 50, LayerFactory("fused"), inputs="embed", vocab_size=9, embed=6,
                               word_dropout=0.5, prefix="wd_")
    model.initialize(mx.init.Xavier())
    ids = mx.nd.array(np.random.RandomState(0).randint(1, 9, size=(8, 50)))
    plain = model.embedding(ids.T).asnumpy()                          # (T, N, E)
    with mx.autograd.train_mode():
        dropped = model._features(mx.nd, ids).asnumpy()
    zero_tokens = (dropped == 0).all(axis=2)
    assert 0.3 < zero_tokens.mean() < 0.7                              # about half the tokens
    kept = ~zero_tokens
    np.testing.assert_allclose(dropped[kept], 2 * plain[kept], rtol=1e-6)  # rescaled by 1/(1-p)
    np.testing.assert_array_equal(model._features(mx.nd, ids).asnumpy(), plain)  # inference


def test_bidirectional_classifier_exports_and_both_kernels_agree(tmp_path):
    import mxnet as mx

    from gluon_seq.models.classifier import SequenceClassifier

    with pytest.raises(ValueError, match="pooling='max'"):
        SequenceClassifier(1, 4, 6, LayerFactory("fused"), vocab_size=9, embed=3, bidirectional=True)
    make = lambda kernel: SequenceClassifier(1, 4, 6, LayerFactory(kernel), inputs="embed", vocab_size=9,
                                              embed=3, pooling="max", pad_id=1,
                                              bidirectional=True, prefix="bi_")
    fused, unfused = make("fused"), make("unfused")
    fused.initialize(mx.init.Xavier())
    unfused.initialize()
    for name, param in fused.collect_params().items():
        unfused.collect_params()[name].set_data(param.data())
    assert fused.output.weight.shape == (1, 8)
    ids = mx.nd.array([[1, 1, 2, 3, 4, 5], [6, 7, 8, 2, 3, 4]])
    outputs = [m(ids, *m.begin_state(2)).asnumpy() for m in (fused, unfused)]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
    # Reading the text backwards matters: reversing the real tokens changes the answer.
    flipped = mx.nd.array([[1, 1, 5, 4, 3, 2], [4, 3, 2, 8, 7, 6]])
    assert not np.allclose(fused(flipped, *fused.begin_state(2)).asnumpy(), outputs[0])

    task = tiny_imdb_task(tmp_path, bidirectional=True, pooling="max")
    task.prepare()
    model = task.build_model(LayerFactory("unfused"))
    model.initialize(task.initializer())
    folder = export_model(task, model, tmp_path / "export")
    batch = next(task.eval_batches("test", 4))
    live = model(mx.nd.array(batch.inputs[0]), *model.begin_state(4)).asnumpy()
    np.testing.assert_allclose(load_predictor(folder).run(list(batch.inputs))[0], live,
                               rtol=1e-6, atol=1e-6)
