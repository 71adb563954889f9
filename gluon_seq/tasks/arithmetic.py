"""Seq2seq arithmetic: the twitch series' fused-RNN encoder-decoder.

``"7*3*2"`` (left-padded to 8 characters) in, ``"  42"`` out.  The encoder
LSTM reads the one-hot characters; its final hidden state is broadcast as the
input to every decoder step; a Dense layer scores the 13 characters at each of
the 4 output positions.

Each expression is 3 numbers from 1..10 joined by one operator, ``+`` or
``*``, so there are only 2,000 distinct expressions.  A fixed 10 % of them is
held out of training, which lets us report exact match two ways: on fresh
random draws from the training generator (the source's protocol) and on
expressions the model has never seen.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator, List, Optional

import numpy as np
from mxnet import gluon

from ..codecs.chars import CharCodec
from ..layers import LSTM, zero_states
from ..metrics import ExactMatch
from . import register
from .base import Batch, Task, iterate_minibatches

CHARSET = "0123456789+* "
INPUT_LENGTH = 8
OUTPUT_LENGTH = 4
HELDOUT_SEED = 20190401  # fixed forever, so "held out" means the same expressions in every run


@dataclass
class ArithmeticOptions:
    hidden: int = 32
    train_samples: int = 10000   # fresh draws per epoch
    valid_samples: int = 2000
    test_samples: int = 10000
    heldout_fraction: float = 0.1


def all_expressions() -> List[str]:
    """The 2,000 distinct expressions, in a fixed order."""
    numbers = range(1, 11)
    return [op.join(map(str, triple))
            for op in "+*" for triple in itertools.product(numbers, repeat=3)]


def evaluate_expression(text: str) -> int:
    total = 0
    for term in text.split("+"):
        product = 1
        for factor in term.split("*"):
            product *= int(factor)
        total += product
    return total


def split_expressions(fraction: float):
    """(train, heldout) expression lists; the held-out set depends only on ``fraction``."""
    expressions = all_expressions()
    order = np.random.RandomState(HELDOUT_SEED).permutation(len(expressions))
    cut = int(round(fraction * len(expressions)))
    heldout = sorted(expressions[i] for i in order[:cut])
    held = set(heldout)
    return [e for e in expressions if e not in held], heldout


class Seq2Seq(gluon.HybridBlock):
    """Encoder LSTM -> final state broadcast over the output steps -> decoder LSTM -> Dense."""

    def __init__(self, charset_size: int, hidden: int, input_length: int, output_length: int,
                 backend: str, ctx=None, **kwargs):
        super().__init__(**kwargs)
        self._charset_size = charset_size
        self._output_length = output_length
        with self.name_scope():
            self.encoder = LSTM(hidden, backend=backend, input_size=charset_size,
                                length=input_length, ctx=ctx, prefix="encoder_")
            self.decoder = LSTM(hidden, backend=backend, input_size=hidden,
                                length=output_length, ctx=ctx, prefix="decoder_")
            self.output = gluon.nn.Dense(charset_size, flatten=False, in_units=hidden,
                                         prefix="output_")

    def begin_state(self, batch_size: int, ctx=None):
        return zero_states([self.encoder, self.decoder], batch_size, ctx)

    def hybrid_forward(self, F, chars, enc_h, enc_c, dec_h, dec_c):
        # chars: (N, T_in) character indices
        onehot = F.one_hot(F.transpose(chars), depth=self._charset_size)  # (T_in, N, V)
        _, (enc_final_h, _) = self.encoder(onehot, [enc_h, enc_c])       # (L, N, H)
        summary = F.slice_axis(enc_final_h, axis=0, begin=-1, end=None)   # (1, N, H): top layer
        repeated = F.broadcast_axis(summary, axis=0, size=self._output_length)  # (T_out, N, H)
        decoded, _ = self.decoder(repeated, [dec_h, dec_c])              # (T_out, N, H)
        logits = self.output(decoded)                                     # (T_out, N, V)
        return F.transpose(logits, axes=(1, 0, 2))                        # (N, T_out, V)


@register
class ArithmeticTask(Task):
    name = "arithmetic"
    metric = "exact_match"
    Options = ArithmeticOptions
    defaults = {"epochs": 60, "batch_size": 32, "lr": 1e-3, "optimizer": "adam", "clip": None}
    valid_split = "valid"
    test_splits = ("fresh", "heldout")

    def __init__(self, options=None, data_dir: Optional[str] = None, seed: int = 0):
        super().__init__(options, data_dir, seed)
        self._codec = CharCodec(CHARSET, INPUT_LENGTH, OUTPUT_LENGTH)
        self._loss = gluon.loss.SoftmaxCrossEntropyLoss(axis=-1)
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

    def _batches(self, expressions, batch_size, shuffle_seed=None, shard=(0, 1)) -> Iterator[Batch]:
        chars, labels = self.encode_pairs(expressions)
        return iterate_minibatches((chars,), labels, batch_size, shuffle_seed, shard)

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        samples = self.draw(self.options.train_samples, seed=self.seed * 100003 + epoch)
        return self._batches(samples, batch_size, shard=self._shard)

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        # Evaluation seeds are fixed and far from the training ones.
        if split == "valid":
            expressions = self.draw(self.options.valid_samples, seed=7_000_001)
        elif split == "fresh":
            expressions = self.draw(self.options.test_samples, seed=9_000_001)
        elif split == "heldout":
            expressions = self.heldout_expressions
        else:
            raise ValueError(f"unknown split {split!r}")
        return self._batches(expressions, batch_size)

    def build_model(self, backend: str, ctx=None):
        return Seq2Seq(len(CHARSET), self.options.hidden, INPUT_LENGTH, OUTPUT_LENGTH,
                       backend, ctx=ctx, prefix="seq2seq_")

    def loss(self, pred, label):
        return self._loss(pred, label)  # (N,): mean cross-entropy over the 4 positions

    def new_metric(self):
        return ExactMatch()

    def codec(self):
        return self._codec

    def example_inputs(self):
        return ["7*3*2", "10+10+10"]
