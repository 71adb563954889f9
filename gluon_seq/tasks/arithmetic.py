"""Seq2seq arithmetic: the twitch series' fused-RNN encoder-decoder.

``"7*3*2"`` (left-padded to 8 characters) in, ``"  42"`` out, through
:class:`gluon_seq.models.seq2seq.Seq2Seq`.  There are only 2,000 expressions
(3 numbers from 1..10, one operator, ``+`` or ``*``); a fixed 10 % is held out
of training, so exact match is reported on fresh draws from the training
generator (the source's protocol) and on expressions never seen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, List, Optional

import numpy as np
from mxnet import gluon

from ..codecs.chars import CharCodec
from ..data import Batch, iterate_minibatches
from ..data.generated import evaluate_expression, split_expressions
from .metrics import ExactMatch
from ..models.seq2seq import Seq2Seq
from ..util.settings import flag, fraction, option, whole
from . import register
from .base import Task

CHARSET = "0123456789+* "
INPUT_LENGTH = 8
OUTPUT_LENGTH = 4
VALID_SEED, FRESH_SEED = 7_000_001, 9_000_001  # evaluation draws: fixed, far from training's


@dataclass
class ArithmeticOptions:
    hidden: int = option(32, whole(1))
    train_samples: int = option(10000, whole(1), "fresh expressions drawn per epoch")
    valid_samples: int = option(2000, whole(1))
    test_samples: int = option(10000, whole(1))
    heldout_fraction: float = option(0.1, fraction(),
                                     "share of the 2,000 expressions never trained on")
    cosine_decay: bool = option(False, flag(), "lower the learning rate along half a cosine, "
                                               "from --lr at the first epoch towards 0 at the last")


@register("arithmetic")
class ArithmeticTask(Task):
    metric_class = ExactMatch
    loss_block = gluon.loss.SoftmaxCrossEntropyLoss(axis=-1)  # (N,): mean over the 4 positions
    Options = ArithmeticOptions
    defaults = {"epochs": 60, "batch_size": 32, "lr": 1e-3, "optimizer": "adam", "clip": None}
    # The same encoder-broadcast-decoder, wider and shorter, its rate decayed to settle Adam's
    # late loss spikes: it generalises better to the held-out expressions (BENCHMARKS.md,
    # "Arithmetic seq2seq, per kernel"), and `make run` trains it.
    presets = {"source": {},
               "generalise": {"hidden": 128, "epochs": 30, "lr": 2e-3, "cosine_decay": True}}
    preset_help = {"source": "the tutorial's 32 units, 60 epochs (the defaults)",
                   "generalise": "128 units, 30 epochs, lr 0.002 decayed along a cosine: "
                                 "better on the held-out expressions, in about the same time"}
    test_splits = ("fresh", "heldout")
    tiny_options = {"hidden": 8, "train_samples": 64, "valid_samples": 32, "test_samples": 32}

    def __init__(self, options=None, data_dir: Optional[str] = None, seed: int = 0):
        super().__init__(options, data_dir, seed)
        self._codec = CharCodec(CHARSET, INPUT_LENGTH, OUTPUT_LENGTH)
        self._example = ["7*3*2", "10+10+10"]
        self.train_expressions, self.heldout_expressions = split_expressions(
            self.options.heldout_fraction)

    def encode_pairs(self, expressions: List[str]):
        """(inputs (N, 8), labels (N, 4)) for a list of expressions."""
        results = [str(evaluate_expression(e)) for e in expressions]
        return (self._codec.encode_strings(expressions, INPUT_LENGTH),
                self._codec.encode_strings(results, OUTPUT_LENGTH))

    def draw(self, count: int, seed: int) -> List[str]:
        rng = np.random.RandomState(seed)
        picks = rng.randint(0, len(self.train_expressions), size=count)
        return [self.train_expressions[i] for i in picks]

    def _batches(self, expressions, batch_size, shard=(0, 1)) -> Iterator[Batch]:
        chars, labels = self.encode_pairs(expressions)
        return iterate_minibatches((chars,), labels, batch_size, shard=shard)

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        # Fresh draws every epoch, so they need no shuffling.
        samples = self.draw(self.options.train_samples, seed=self.epoch_seed(epoch))
        return self._batches(samples, batch_size, shard=self._shard)

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        if split == "valid":
            expressions = self.draw(self.options.valid_samples, seed=VALID_SEED)
        elif split == "fresh":
            expressions = self.draw(self.options.test_samples, seed=FRESH_SEED)
        elif split == "heldout":
            expressions = self.heldout_expressions
        else:
            raise ValueError(f"unknown split {split!r}")
        return self._batches(expressions, batch_size)

    def lr_schedule(self, epoch: int, epochs: int) -> float:
        if not self.options.cosine_decay:
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * epoch / epochs))

    def build_model(self, rnn_layer, for_export: bool = False):
        return Seq2Seq(len(CHARSET), self.options.hidden, INPUT_LENGTH, OUTPUT_LENGTH,
                       rnn_layer, prefix="seq2seq_")
