"""Alphabet: predict the next letter (the Keras "stateful LSTM" tutorial).

``--seq-length L`` letters in, the next letter out: ``"ABC"`` -> ``"D"``.
There are 26 - L such windows, and learning them *is* the task, so, as in
the source, the score is accuracy on those same windows.  The source feeds
each letter as one number, ``index / 26``, one letter per time step, into
LSTM(32) and a softmax over 26 letters, trained for 500 epochs at batch 1.

Source results: 84 % with one letter, 95.65 % with 3 letters as time steps,
100 % with a stateful LSTM.  Defaults reproduce the 3-letter run; the
``one-letter`` preset the first one.  ``--encoding onehot`` feeds one-hot
letters instead of scaled numbers.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from mxnet import gluon

from ..classifier import SequenceClassifier
from ..codecs.symbols import SymbolCodec
from ..errors import UserError
from ..metrics import Accuracy
from . import register
from .base import Batch, Task, iterate_minibatches

ALPHABET = string.ascii_uppercase

# Built once: a loss has no parameters, and a Block per training step is needless work.
_LOSS = gluon.loss.SoftmaxCrossEntropyLoss()


@dataclass
class AlphabetOptions:
    seq_length: int = field(default=3, metadata={"help": "letters in, as time steps"})
    hidden: int = 32
    encoding: str = field(default="scaled", metadata={
        "choices": ["scaled", "onehot"],
        "help": "scaled: index/26 as one number per step (the source); onehot: 26 inputs per step"})


@register
class AlphabetTask(Task):
    name = "alphabet"
    metric = "accuracy"
    Options = AlphabetOptions
    defaults = {"epochs": 500, "batch_size": 1, "lr": 1e-3, "optimizer": "adam", "clip": None}
    presets = {"source": {}, "one-letter": {"seq_length": 1}}
    valid_split = "alphabet"
    test_splits = ("alphabet",)

    def __init__(self, options=None, data_dir=None, seed: int = 0):
        super().__init__(options, data_dir, seed)
        length = self.options.seq_length
        if not 1 <= length < len(ALPHABET):
            raise UserError(f"--seq-length must be between 1 and {len(ALPHABET) - 1}.")
        self._codec = SymbolCodec(ALPHABET, length, list(ALPHABET), fold_case=True)
        windows = len(ALPHABET) - length
        self.inputs = np.array([[i + k for k in range(length)] for i in range(windows)],
                               dtype=np.int32)                       # (windows, L)
        self.labels = np.arange(length, len(ALPHABET), dtype=np.int32)  # (windows,)

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        return iterate_minibatches((self.inputs,), self.labels, batch_size,
                                   shuffle_seed=self.seed * 100003 + epoch, shard=self._shard)

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        if split != "alphabet":
            raise ValueError(f"unknown split {split!r}")
        return iterate_minibatches((self.inputs,), self.labels, batch_size)

    def build_model(self, backend: str, ctx=None):
        opts = self.options
        return SequenceClassifier(len(ALPHABET), opts.hidden, opts.seq_length, backend,
                                  inputs=opts.encoding, vocab_size=len(ALPHABET),
                                  scale=len(ALPHABET), ctx=ctx, prefix="alphabet_")

    def loss(self, pred, label):
        return _LOSS(pred, label)

    def new_metric(self):
        return Accuracy()

    def codec(self):
        return self._codec

    def example_inputs(self):
        return [ALPHABET[:self.options.seq_length], ALPHABET[-self.options.seq_length - 1:-1]]

