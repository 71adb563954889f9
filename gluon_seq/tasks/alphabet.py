"""Alphabet: predict the next letter (the Keras "stateful LSTM" tutorial).

``--seq-length L`` letters in, the next letter out: ``"ABC"`` -> ``"D"``.  The
26 - L windows are the task, so, as in the source, it is scored on them (the
source's figures: README.md's results table).
"""
from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
from mxnet import gluon

from ..codecs.symbols import SymbolCodec
from ..models.classifier import SequenceClassifier
from ..util.settings import option, whole
from . import register
from .base import Task

ALPHABET = string.ascii_uppercase


@dataclass
class AlphabetOptions:
    seq_length: int = option(3, whole(1, len(ALPHABET) - 1), "letters in, as time steps")
    hidden: int = option(32, whole(1))
    encoding: str = option("scaled", help="scaled: index/26 as one number per step (the "
                           "source); onehot: 26 inputs per step", choices=["scaled", "onehot"])


@register("alphabet")
class AlphabetTask(Task):
    loss_block = gluon.loss.SoftmaxCrossEntropyLoss()
    Options = AlphabetOptions
    defaults = {"epochs": 500, "batch_size": 1, "lr": 1e-3, "optimizer": "adam", "clip": None}
    presets = {"source": {}, "one-letter": {"seq_length": 1}}
    preset_help = {"source": "the tutorial's 3-letter windows (the defaults)",
                   "one-letter": "the tutorial's first model: one letter in, the next out"}
    valid_split = "alphabet"
    test_splits = ("alphabet",)
    tiny_options = {"hidden": 8}

    def __init__(self, options=None, data_dir=None, seed: int = 0):
        super().__init__(options, data_dir, seed)
        length = self.options.seq_length
        self._codec = SymbolCodec(ALPHABET, length, list(ALPHABET), fold_case=True)
        self._example = [ALPHABET[:length], ALPHABET[-length - 1:-1]]
        windows = len(ALPHABET) - length
        self.inputs = np.array([[i + k for k in range(length)] for i in range(windows)],
                               dtype=np.int32)                       # (windows, L)
        self.labels = np.arange(length, len(ALPHABET), dtype=np.int32)  # (windows,)
        # Learning the windows is the task: it trains and is scored on the same ones.
        self._arrays = {"train": (self.inputs, self.labels), "alphabet": (self.inputs, self.labels)}

    def build_model(self, rnn_layer, for_export: bool = False):
        opts = self.options
        return SequenceClassifier(len(ALPHABET), opts.hidden, opts.seq_length, rnn_layer,
                                  inputs=opts.encoding, vocab_size=len(ALPHABET),
                                  scale=len(ALPHABET), prefix="alphabet_")
