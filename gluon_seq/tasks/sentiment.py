"""Sentiment: the Keras IMDB LSTM, and the web-traffic classifier as a preset.

The defaults are the source's IMDB model, except that 10 % of the training
reviews, not the test set, pick the best epoch.  ``--preset web-traffic``
classifies the characters of generated HTTP request lines
(:mod:`gluon_seq.data.web_traffic`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
from mxnet import gluon

from ..codecs.text import TextCodec, tokenize
from ..data import held_out, imdb, locate, web_traffic
from ..data.vocab import text_vocab as build_vocab
from ..util.errors import UserError
from .metrics import BinaryAccuracy
from ..models.classifier import SequenceClassifier
from ..util.settings import dropout_rate, flag, fraction, option, whole
from . import register
from .base import Task

SPLIT_SEED = 20110619   # fixed: the held-out validation reviews are the same in every run
TRAFFIC_SEEDS = {"train": 1024, "test": 2048}
DATASETS = {"imdb": ("words", ("negative", "positive")),
            "web-traffic": ("chars", ("benign", "malicious"))}


@dataclass
class SentimentOptions:
    dataset: str = field(default="imdb", metadata={
        "choices": list(DATASETS), "help": "imdb reviews, or synthetic web-traffic requests"})
    vocab_size: int = field(default=5000, metadata={"check": whole(3),
        "help": "vocabulary size, <unk> and <pad> included"})
    maxlen: int = field(default=500, metadata={"check": whole(1), "help": "tokens kept per text (the last ones)"})
    embed: int = option(32, whole(1))
    hidden: int = option(100, whole(1))
    dropout: float = option(0.0, dropout_rate())
    embed_dropout: float = field(default=0.0, metadata={"check": dropout_rate(),
        "help": "drop whole embedding channels (the same ones at every step)"})
    word_dropout: float = field(default=0.0, metadata={"check": dropout_rate(),
        "help": "drop whole tokens (every channel of a word's embedding at once) while training"})
    bidirectional: bool = field(default=False, metadata={"check": flag(),
        "help": "also read the text backwards (needs --pooling max)"})
    pooling: str = field(default="last", metadata={
        "choices": ["last", "max"],
        "help": "classify the last step (the source) or each unit's maximum over the text"})
    valid_fraction: float = field(default=0.1, metadata={"check": fraction(),
        "help": "share of the training texts held out to pick the best epoch"})
    train_limit: int = field(default=0, metadata={"check": whole(0),
        "help": "use only this many training texts (0 = all); for quick looks"})
    eval_limit: int = field(default=0, metadata={"check": whole(0),
        "help": "validate and test on only this many texts each (0 = all); for quick looks"})
    traffic_size: int = field(default=20000, metadata={"check": whole(4),
        "help": "web-traffic training requests to generate (test: a quarter as many)"})


@register("sentiment")
class SentimentTask(Task):
    metric_class = BinaryAccuracy
    loss_block = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    Options = SentimentOptions
    defaults = {"epochs": 3, "batch_size": 128, "lr": 1e-3, "optimizer": "adam", "clip": None}
    presets = {
        "source": {},
        "pooled": {"vocab_size": 10000, "embed": 64, "embed_dropout": 0.4, "dropout": 0.5,
                   "pooling": "max", "batch_size": 32},
        # The best IMDB setting measured here (BENCHMARKS.md).
        "bilstm": {"vocab_size": 10000, "embed": 64, "embed_dropout": 0.4, "word_dropout": 0.2,
                   "dropout": 0.5, "pooling": "max", "bidirectional": True, "batch_size": 32,
                   "epochs": 4},
        "web-traffic": {"dataset": "web-traffic", "vocab_size": 1024, "embed": 256,
                        "hidden": 128, "dropout": 0.5, "maxlen": 128, "optimizer": "rmsprop"},
    }
    preset_help = {"source": "the Keras tutorial's IMDB LSTM (the defaults)",
                   "pooled": "max pooling over the review and channel dropout",
                   "bilstm": "pooled, reading both ways, with whole-token dropout",
                   "web-traffic": "generated HTTP request lines, benign or malicious"}
    codec_from_data = True
    # Generated requests: no data files needed.
    tiny_options = {"dataset": "web-traffic", "traffic_size": 120, "vocab_size": 40, "maxlen": 16,
                    "embed": 4, "hidden": 5}

    def __init__(self, options=None, data_dir: Optional[str] = None, seed: int = 0):
        super().__init__(options, data_dir, seed)
        self.tarball: Optional[Path] = None  # set to read another IMDB copy than the shared one

    @classmethod
    def check_option_values(cls, options) -> None:
        if options.bidirectional and options.pooling != "max":
            raise UserError("--bidirectional needs --pooling max: the backward direction's last "
                            "step has read only the last token.")

    # -- data -------------------------------------------------------------------
    def load_texts(self) -> Dict[str, Tuple[List[str], List[int]]]:
        opts = self.options
        if opts.dataset == "web-traffic":
            sizes = {"train": opts.traffic_size, "test": max(opts.traffic_size // 4, 1)}
            return {split: web_traffic.generate(sizes[split], TRAFFIC_SEEDS[split])
                    for split in sizes}
        return imdb.read_imdb(self.tarball or locate(imdb.TARBALL, self.data_dir))

    def prepare(self) -> None:
        opts = self.options
        unit, labels = DATASETS[opts.dataset]
        texts = self.load_texts()
        train_texts, train_labels = texts["train"]
        train_rows, valid_rows = held_out(len(train_texts), opts.valid_fraction, SPLIT_SEED)
        train_rows = train_rows[:opts.train_limit or None]
        valid_rows = valid_rows[:opts.eval_limit or None]
        # A fixed shuffle, so a limited test set still holds both labels.
        test_rows = np.random.RandomState(SPLIT_SEED + 1).permutation(len(texts["test"][0]))
        test_rows = test_rows[:opts.eval_limit or None]
        test_texts = [texts["test"][0][i] for i in test_rows]
        test_labels = [texts["test"][1][i] for i in test_rows]
        tokens = {"train": [tokenize(train_texts[i], unit) for i in train_rows],
                  "valid": [tokenize(train_texts[i], unit) for i in valid_rows],
                  "test": [tokenize(t, unit) for t in test_texts]}
        if self._codec is None:  # a reopened run keeps the vocabulary it trained with
            self._codec = TextCodec(build_vocab(tokens["train"], opts.vocab_size), opts.maxlen,
                                    unit, labels)
            first = {label: text for text, label in zip(test_texts[::-1], test_labels[::-1])}
            self._example = [first[label][:400] for label in sorted(first)]
        label_of = {"train": [train_labels[i] for i in train_rows],
                    "valid": [train_labels[i] for i in valid_rows], "test": test_labels}
        self._arrays = {split: (self._codec.encode_tokens(tokens[split]),
                                np.asarray(label_of[split], dtype=np.float32))
                        for split in tokens}

    # -- model ------------------------------------------------------------------
    def build_model(self, rnn_layer, for_export: bool = False):
        opts = self.options
        return SequenceClassifier(1, opts.hidden, opts.maxlen, rnn_layer, inputs="embed",
                                  vocab_size=len(self.codec().vocab), embed=opts.embed,
                                  dropout=opts.dropout, pooling=opts.pooling,
                                  pad_id=self.codec().pad_id, embed_dropout=opts.embed_dropout,
                                  word_dropout=opts.word_dropout,
                                  bidirectional=opts.bidirectional, prefix="sentiment_")

    def loss(self, pred, label):
        return self.loss_block(pred, label.reshape((-1, 1)))  # (N,)
