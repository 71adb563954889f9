"""gluonnlp does the vocabularies, and ours do the rest, with today's exact numbers.

Old run and export folders store vocabularies and ids, so every word must keep
its index.  Each test compares the package's function with a few-line
reference of the algorithm it had before gluonnlp (written here, inline), on
random and edge-case inputs, and pins literal values measured before the
change: the legacy fixtures' stored vocabularies and, when ``../shared/data``
is present, digests of the real PTB and bAbI vocabularies and PTB windows.

Where gluonnlp is *not* used (BPTT windows, left padding), a test shows what
gluonnlp's own function gives, so the reason in the docstring stays checked.
"""
import hashlib
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gluon_seq.codecs import left_pad
from gluon_seq.codecs.babi import BabiCodec
from gluon_seq.codecs.chars import CharCodec
from gluon_seq.codecs.text import PAD, UNK, TextCodec
from gluon_seq.codecs.words import WordCodec
from gluon_seq.data import babi, default_data_dir, ptb
from gluon_seq.tasks import sentiment

LEGACY = Path(__file__).parent / "fixtures" / "runs_448da8f"
REAL_PTB = default_data_dir() / "ptb" / "ptb.train.txt"
REAL_BABI = default_data_dir() / "babi" / "tasks_1-20_v1-2.tar.gz"
# Words with ties, case, punctuation and non-ASCII, so "ties alphabetical" is tested
# in str (code point) order, and PTB's special words among them.
WORDS = ["the", "The", "a", "b", "B", "N", "'s", "%", "<eos>", "<unk>", "zebra", "é", "ab", "a-b"]


def _digest(words):
    return hashlib.sha1("\n".join(words).encode()).hexdigest()


def _random_corpora(count=60):
    rng = random.Random(7)
    for _ in range(count):
        pool = rng.sample(WORDS, rng.randint(1, len(WORDS)))
        weights = [rng.choice([1, 1, 2, 5]) for _ in pool]  # few distinct weights: many ties
        yield rng.choices(pool, weights, k=rng.randint(0, 40))


def _stored_vocab(name):
    return json.loads((LEGACY / name / "export" / "meta.json").read_text())["codec"]["vocab"]


# -- PTB vocabulary ----------------------------------------------------------------------
def old_ptb_vocab(tokens):
    counts = Counter(tokens)
    vocab = sorted(counts, key=lambda word: (-counts[word], word))
    return vocab + ([] if "<unk>" in counts else ["<unk>"])


def test_ptb_vocab_equals_the_old_sort_on_random_and_edge_corpora():
    edges = [[], ["<unk>"], ["a"], ["b", "a"], ["<eos>"] * 3 + ["a"] * 3, list("cbacba")]
    for tokens in [*edges, *_random_corpora()]:
        assert ptb.build_vocab(tokens) == old_ptb_vocab(tokens), tokens


def test_ptb_vocab_rebuilds_the_legacy_run_word_for_word():
    tokens = ptb.read_tokens(LEGACY / "ptb_corpus" / "ptb.train.txt")
    assert ptb.build_vocab(tokens) == _stored_vocab("ptb")
    assert ptb.build_vocab(tokens)[:7] == ["<eos>", "the", "N", "company", "said", "%", "<unk>"]


@pytest.mark.skipif(not REAL_PTB.is_file(), reason="shared PTB data not on this machine")
def test_real_ptb_vocab_keeps_every_index():
    vocab = ptb.build_vocab(ptb.read_tokens(REAL_PTB))
    assert len(vocab) == 10_000
    assert vocab.index("<unk>") == 1 and vocab.index("<eos>") == 2
    assert vocab[:6] == ["the", "<unk>", "<eos>", "N", "of", "to"]
    assert vocab[-2:] == ["swapo", "wachter"]
    assert _digest(vocab) == "6cf33f1f6c0e3309da200d8fb65f397b19c0adeb"  # measured before gluonnlp


# -- bAbI vocabulary ---------------------------------------------------------------------
def old_babi_vocab(samples):
    return sorted({t for s in samples for t in [*s.story, *s.question, s.answer]})


def test_babi_vocab_equals_sorted_words_on_random_and_edge_samples():
    rng = random.Random(11)
    edges = [[babi.Sample([], ["?"], "x")], [babi.Sample(["a"], ["a"], "a")],
             [babi.Sample(["Mary", "went", "."], ["Where", "?"], "apple,football")]]
    randoms = [[babi.Sample(rng.choices(WORDS, k=rng.randint(0, 9)),
                            rng.choices(WORDS, k=rng.randint(1, 4)), rng.choice(WORDS))
                for _ in range(rng.randint(1, 5))] for _ in range(60)]
    for samples in edges + randoms:
        assert babi.build_vocab(samples) == old_babi_vocab(samples)


def test_babi_vocab_rebuilds_the_legacy_run_word_for_word():
    tarball = LEGACY / "babi_tiny.tar.gz"
    samples = [s for split in ("train", "test") for s in babi.load_split(tarball, 1, "en", split)]
    assert babi.build_vocab(samples) == _stored_vocab("babi")
    assert babi.max_lengths(samples) == (18, 4)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_BABI.is_file(), reason="shared bAbI data not on this machine")
def test_real_babi_vocabularies_keep_every_index():
    vocabs = [babi.build_vocab([s for split in ("train", "test")
                                for s in babi.load_split(REAL_BABI, task, "en", split)])
              for task in range(1, 21)]
    assert vocabs[0] == [".", "?", "Daniel", "John", "Mary", "Sandra", "Where", "back",
                         "bathroom", "bedroom", "garden", "hallway", "is", "journeyed",
                         "kitchen", "moved", "office", "the", "to", "travelled", "went"]
    assert _digest([_digest(v) for v in vocabs]) == "ac5a53679c91cb26aeba032b2fd77467f0b80b16"


# -- the text (sentiment, web-traffic) vocabulary ------------------------------------------
def old_text_vocab(token_lists, size):
    counts = Counter(t for tokens in token_lists for t in tokens)
    ranked = [t for t in sorted(counts, key=lambda t: (-counts[t], t)) if t not in (UNK, PAD)]
    return [UNK, PAD] + ranked[:size - 2]


def test_text_vocab_is_unk_pad_then_the_most_frequent():
    corpora = [[], [[]], [["a"]], *[[c[:len(c) // 2], c[len(c) // 2:]] for c in _random_corpora()]]
    for token_lists in corpora:
        for size in (3, 5, 50):
            assert sentiment.build_vocab(token_lists, size) == old_text_vocab(token_lists, size)


def test_text_vocab_rebuilds_the_legacy_web_traffic_run():
    options = json.loads((LEGACY / "web-traffic" / "config.json").read_text())["options"]
    task = sentiment.SentimentTask(sentiment.SentimentTask.make_options(options))
    task.prepare()
    assert task.codec().vocab == _stored_vocab("web-traffic")


# -- PTB batchify and BPTT windows: ours, checked against gluonnlp's -------------------------
def _gluonnlp_windows(tokens, batch_size, num_steps):
    """gluonnlp's CorpusBPTTBatchify, converted to our layout: batch-first int32 numpy."""
    import gluonnlp

    vocab = gluonnlp.Vocab(Counter(tokens), unknown_token=None, padding_token=None,
                           bos_token=None, eos_token=None)
    batches = gluonnlp.data.batchify.CorpusBPTTBatchify(vocab, num_steps, batch_size,
                                                        last_batch="discard")(tokens)
    windows = [(d.asnumpy().T.astype(np.int32), l.asnumpy().T.astype(np.int32))
               for d, l in batches]  # (num_steps, batch) float32 NDArray -> (batch, num_steps)
    return vocab, windows


def _assert_same_windows(ours, theirs):
    assert len(ours) == len(theirs)
    for (data, label), (their_data, their_label) in zip(ours, theirs):
        assert data.dtype == label.dtype == np.int32
        np.testing.assert_array_equal(data, their_data)
        np.testing.assert_array_equal(label, their_label)


def test_bptt_windows_equal_gluonnlp_corpus_bptt_batchify_with_discard():
    rng = np.random.RandomState(3)
    cases = [(12, 2, 5), (11, 2, 5), (13, 3, 2), (8, 4, 1), (40, 1, 39), (40, 1, 40), (30, 2, 20)]
    cases += [(rng.randint(20, 300), rng.randint(1, 8), rng.randint(1, 12)) for _ in range(40)]
    for length, batch_size, num_steps in cases:
        tokens = [WORDS[i] for i in rng.randint(len(WORDS), size=length)] + ["<unk>"]
        vocab, theirs = _gluonnlp_windows(tokens, batch_size, num_steps)
        ids = ptb.to_ids(tokens, vocab.token_to_idx)
        ours = list(ptb.bptt_windows(ptb.batchify(ids, batch_size), num_steps))
        _assert_same_windows(ours, theirs)
        assert ptb.count_windows(len(tokens), batch_size, num_steps) == len(ours)


def test_synthetic_corpus_windows_are_todays():
    tokens = ptb.read_tokens(LEGACY / "ptb_corpus" / "ptb.train.txt")
    vocab = ptb.build_vocab(tokens)
    rows = ptb.batchify(ptb.to_ids(tokens, {w: i for i, w in enumerate(vocab)}), 4)
    windows = list(ptb.bptt_windows(rows, 5))
    assert rows.shape == (4, 77) and len(windows) == 15
    assert windows[0][0][0].tolist() == [1, 3, 4, 11, 8]  # the company said it expects
    assert windows[0][1][0].tolist() == [3, 4, 11, 8, 2]  # ... N
    assert windows[-1][1][3].tolist() == [1, 7, 4, 15, 16]  # the bank said profit rose
    joined = hashlib.sha1(b"".join(d.tobytes() + l.tobytes() for d, l in windows)).hexdigest()
    assert joined == "b51131350cfdd0d96e4301126054ad8deef220c2"


@pytest.mark.skipif(not REAL_PTB.is_file(), reason="shared PTB data not on this machine")
def test_real_ptb_windows_are_todays_and_gluonnlps():
    tokens = ptb.read_tokens(REAL_PTB)
    vocab = ptb.build_vocab(tokens)
    ids = ptb.to_ids(tokens, {w: i for i, w in enumerate(vocab)})
    ours = list(ptb.bptt_windows(ptb.batchify(ids, 20), 35))
    joined = hashlib.sha1(b"".join(d.tobytes() + l.tobytes() for d, l in ours)).hexdigest()
    assert len(ours) == 1327 and joined == "d51cd743315e3f779dadcecde9549a2557bcc9dc"
    _assert_same_windows(ours, _gluonnlp_windows(tokens, 20, 35)[1])


# -- left padding: Keras pad_sequences, which gluonnlp's Pad is not -----------------------------
def pad_sequences(id_lists, length, value):
    """Keras ``pad_sequences(padding="pre", truncating="pre")``, as a reference."""
    rows = [([value] * length + list(ids))[len(ids):] for ids in id_lists]
    return np.array(rows, dtype=np.int32).reshape(len(id_lists), length)


def _random_token_lists(rng, vocab, count, longest):
    return [rng.choices(vocab, k=rng.randint(0, longest)) for _ in range(count)]


def test_left_pad_is_keras_pad_sequences_on_lists_and_arrays():
    rng = np.random.RandomState(17)
    for length in (0, 1, 4, 9):
        rows = [list(rng.randint(100, size=rng.randint(0, 12))) for _ in range(10)] + [[]]
        want = pad_sequences(rows, length, -1)
        np.testing.assert_array_equal(left_pad(rows, length, -1), want)
        np.testing.assert_array_equal(left_pad([np.array(r, np.int32) for r in rows], length, -1),
                                      want)
        assert left_pad(rows, length, -1).dtype == np.int32
    assert left_pad([], 3, 0).shape == (0, 3)


def test_text_codec_left_pads_and_truncates_from_the_front_like_keras():
    codec = TextCodec([UNK, PAD, "a", "b", "c"], 4)
    got = codec.encode_tokens([[], ["a"], ["a", "b", "z"], ["a", "b", "c", "a", "b"]])
    assert got.tolist() == [[1, 1, 1, 1], [1, 1, 1, 2], [1, 2, 3, 0], [3, 4, 2, 3]]
    assert got.dtype == np.int32
    rng = random.Random(5)
    for maxlen in (1, 3, 8):
        codec = TextCodec([UNK, PAD, *WORDS[:6]], maxlen)
        token_lists = _random_token_lists(rng, WORDS, 20, 12)  # WORDS[6:] are unknown
        ids = [[codec.index.get(t, codec.unk_id) for t in tokens] for tokens in token_lists]
        np.testing.assert_array_equal(codec.encode_tokens(token_lists),
                                      pad_sequences(ids, maxlen, codec.pad_id))
        assert all(np.array_equal(codec.ids(t), row)
                   for t, row in zip(token_lists, codec.encode_tokens(token_lists)))


def test_babi_codec_left_pads_with_0_and_stacks_like_keras():
    codec = BabiCodec(["Mary", "went", "where", "?"], 3, 2)
    stories, questions = codec.encode_tokens([(["Mary"], ["where", "?"]),
                                              (["Mary", "went", "went", "where"], ["?"])])
    assert stories.tolist() == [[0, 0, 1], [2, 2, 3]] and questions.tolist() == [[3, 4], [0, 4]]
    rng = random.Random(9)
    codec = BabiCodec(WORDS, 7, 3)
    pairs = list(zip(_random_token_lists(rng, WORDS, 15, 10),
                     _random_token_lists(rng, WORDS, 15, 5)))
    stories, questions = codec.encode_tokens(pairs)
    assert stories.dtype == questions.dtype == np.int32
    np.testing.assert_array_equal(stories, pad_sequences(
        [[codec.index[t] for t in s] for s, _ in pairs], 7, 0))
    np.testing.assert_array_equal(questions, pad_sequences(
        [[codec.index[t] for t in q] for _, q in pairs], 3, 0))
    assert codec.ids(["Mary"], 0).shape == (0,)


def test_word_codec_left_pads_prompts_with_eos_to_the_longest():
    codec = WordCodec(["<eos>", "<unk>", "the", "cat"])
    assert codec.encode(["the cat", "cat", "the zebra cat"])[0].tolist() == [
        [0, 2, 3], [0, 0, 3], [2, 1, 3]]
    rng = random.Random(13)
    prompts = [" ".join(rng.choices(["the", "cat", "zebra"], k=rng.randint(1, 6)))
               for _ in range(20)]
    ids = [codec.ids(p.split()) for p in prompts]
    np.testing.assert_array_equal(codec.encode(prompts)[0],
                                  pad_sequences(ids, max(map(len, ids)), codec.eos_id))


def test_char_codec_left_pads_with_its_pad_character():
    codec = CharCodec("0123456789+ ", 5, 3)
    assert codec.encode_strings(["1+2", "12+34", ""], 5).tolist() == [
        [11, 11, 1, 10, 2], [1, 2, 10, 3, 4], [11, 11, 11, 11, 11]]


def test_gluonnlp_pad_pads_on_the_right_to_the_longest_row_as_an_ndarray():
    # Why the codecs keep their own left padding: gluonnlp 0.10's Pad has no side or
    # fixed-length option and returns mxnet arrays, which the codecs do not return.
    import mxnet as mx
    from gluonnlp.data.batchify import Pad

    padded = Pad(pad_val=9)([[1, 2, 3], [4]])
    assert isinstance(padded, mx.nd.NDArray)
    assert padded.asnumpy().tolist() == [[1, 2, 3], [4, 9, 9]]  # right side, batch's longest
    assert pad_sequences([[1, 2, 3], [4]], 2, 9).tolist() == [[2, 3], [9, 4]]  # what we need
