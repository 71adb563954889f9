"""Count the ones in a 20-bit string (the TensorFlow "noob's guide" LSTM).

``"01101000000000000001"`` in, ``"4"`` out, one bit per time step.  Of the 2^20
strings, shuffled with a fixed seed, the first 10,000 train and the rest test;
10,000 of those pick the best epoch (the source has no validation split).
Strings are made from their ids batch by batch, so memory stays bounded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from mxnet import gluon

from ..codecs.symbols import SymbolCodec
from ..data import Batch, iterate_minibatches
from ..data.generated import bits_of
from ..util.errors import UserError
from ..models.classifier import SequenceClassifier
from ..util.settings import option, whole
from . import register
from .base import Task

DATA_SEED = 20160510  # fixed forever, so "the test set" is the same strings in every run


@dataclass
class CountOnesOptions:
    bits: int = option(20, whole(2, 24), "string length (all 2^bits strings are used)")
    train_size: int = option(10000, whole(1), "strings for training")
    valid_size: int = option(10000, whole(1), "strings of the test pool used to pick the best epoch")
    test_size: int = option(0, whole(0), "test on only this many of the remaining strings "
                            "(0 = all of them)")
    hidden: int = option(24, whole(1))


@register("count-ones")
class CountOnesTask(Task):
    loss_block = gluon.loss.SoftmaxCrossEntropyLoss()
    Options = CountOnesOptions
    defaults = {"epochs": 5000, "batch_size": 1000, "lr": 1e-3, "optimizer": "adam", "clip": None}
    presets = {"source": {}, "fast": {"batch_size": 50, "lr": 1e-2, "epochs": 60, "clip": 5.0}}
    preset_help = {"source": "the tutorial's 5,000 epochs of batch 1000 (hours on a CPU)",
                   "fast": "batch 50, lr 0.01, 60 epochs: minutes"}
    tiny_options = {"bits": 6, "train_size": 40, "valid_size": 12, "hidden": 5}

    def __init__(self, options=None, data_dir=None, seed: int = 0):
        super().__init__(options, data_dir, seed)
        opts = self.options
        total = 1 << opts.bits
        self._codec = SymbolCodec("01", opts.bits, [str(k) for k in range(opts.bits + 1)],
                                  template="{input} has {output} ones")
        self._example = ["0" * opts.bits, "1" * opts.bits, ("01" * opts.bits)[:opts.bits]]
        self.order = np.random.RandomState(DATA_SEED).permutation(total).astype(np.int32)

    @classmethod
    def check_option_values(cls, options) -> None:
        total = 1 << options.bits
        if options.train_size >= total or options.valid_size > total - options.train_size:
            raise UserError(f"--train-size {options.train_size} and --valid-size "
                            f"{options.valid_size} must fit in the {total} strings of "
                            f"{options.bits} bits, with at least one string left to test.")

    @property
    def train_ids(self) -> np.ndarray:
        return self.order[:self.options.train_size]

    @property
    def test_ids(self) -> np.ndarray:
        return self.order[self.options.train_size:]

    def _batches(self, ids: np.ndarray, batch_size: int, shuffle_seed=None, shard=(0, 1)
                 ) -> Iterator[Batch]:
        # Batches of ids first; bits are made per batch (bounded memory).
        for batch in iterate_minibatches((ids,), ids, batch_size, shuffle_seed, shard):
            strings = bits_of(batch.label, self.options.bits)          # (N, bits)
            yield Batch((strings,), strings.sum(axis=1).astype(np.int32))

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        return self._batches(self.train_ids, batch_size, self.epoch_seed(epoch), self._shard)

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        if split == "valid":
            ids = self.test_ids[:self.options.valid_size]
        elif split == "test":
            ids = self.test_ids[:self.options.test_size or None]
        elif split == "train":
            ids = self.train_ids
        else:
            raise ValueError(f"unknown split {split!r}")
        # Evaluation has no gradients to keep, so it streams in larger batches.
        return self._batches(ids, max(batch_size, 8192))

    def build_model(self, rnn_layer, for_export: bool = False):
        bits = self.options.bits
        return SequenceClassifier(bits + 1, self.options.hidden, bits, rnn_layer,
                                  inputs="scaled", scale=1.0, prefix="countones_")
