"""Penn Treebank word language model: predict every next word.

Defaults are the Keras tutorial's; presets ``small`` and ``medium`` are Zaremba
et al. (2014), whose loss sums the window's steps with lr 1 and clip 5: ours
is the mean, num_steps times smaller, so lr num_steps and clip 5 / num_steps
give the same updates.  The hidden state carries from batch to batch: row r of
batch k+1 continues row r of batch k (:func:`gluon_seq.data.ptb.batchify`).

Example, after training::

    gluon-seq predict runs/ptb/export --words 20 --temperature 0 "the company said"
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Optional

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..codecs.words import WordCodec
from ..data import Batch, locate
from ..data import ptb as ptb_data
from ..data.generated import write_synthetic_corpus
from ..util.errors import UserError
from .metrics import Perplexity
from ..models.word_lm import WordLM
from ..util.settings import dropout_rate, number, option, text, whole
from . import register
from .base import Task


@dataclass
class PtbOptions:
    embed: int = option(500, whole(1))
    hidden: int = option(500, whole(1))
    num_layers: int = option(2, whole(1))
    dropout: float = field(default=0.5, metadata={"check": dropout_rate(),
        "help": "dropout on the LSTM outputs before the softmax layer"})
    input_dropout: float = field(default=0.0, metadata={"check": dropout_rate(),
        "help": "dropout on the word embeddings (Zaremba's non-recurrent dropout)"})
    layer_dropout: float = field(default=0.0, metadata={"check": dropout_rate(),
        "help": "dropout between the LSTM layers"})
    num_steps: int = field(default=30, metadata={"check": whole(1), "help": "BPTT window length in words"})
    init_scale: float = field(default=0.0, metadata={"check": number(0),
        "help": "uniform(-s, s) initialisation of every weight; 0 = Keras' defaults (the "
                "source's: uniform 0.05 embeddings, orthogonal recurrent weights, forget bias 1)"})
    lr_decay: float = field(default=1.0, metadata={"check": number(0, 1, low_open=True),
        "help": "multiply the learning rate by this every epoch after --decay-after"})
    decay_after: int = field(default=0, metadata={"check": whole(0),
        "help": "epochs at the full learning rate before --lr-decay starts"})
    eval_batch_size: int = field(default=10, metadata={"check": whole(1),
        "help": "rows for validation and test (fewer rows = fewer zero-state restarts)"})
    train_tokens: int = field(default=0, metadata={"check": whole(0),
        "help": "use only the first N training tokens (0 = all); for quick runs"})
    eval_tokens: int = field(default=0, metadata={"check": whole(0),
        "help": "use only the first N validation and test tokens (0 = all); for quick runs"})
    corpus: str = field(default="", metadata={"check": text(),
        "help": "folder with ptb.{train,valid,test}.txt of your own corpus "
                "(default: the PTB files of --data-dir, checked by sha1)"})


def _zaremba(hidden: int, steps: int, dropout: float, epochs: int, decay: float,
             decay_after: int) -> Dict:
    return {"embed": hidden, "hidden": hidden, "num_layers": 2, "num_steps": steps,
            "dropout": dropout, "input_dropout": dropout, "layer_dropout": dropout,
            "init_scale": 0.1 if hidden <= 200 else 0.05, "lr_decay": decay,
            "decay_after": decay_after, "epochs": epochs, "batch_size": 20,
            "optimizer": "sgd", "lr": float(steps), "clip": 5.0 / steps}


@register("ptb")
class PtbTask(Task):
    metric_class = Perplexity
    loss_block = gluon.loss.SoftmaxCrossEntropyLoss(axis=-1)  # (N,): mean over T
    Options = PtbOptions
    defaults = {"epochs": 40, "batch_size": 20, "lr": 1e-3, "optimizer": "adam", "clip": None}
    presets = {
        "source": {},
        "small": _zaremba(200, 20, 0.0, 13, 0.5, 4),
        "medium": _zaremba(650, 35, 0.5, 39, 1 / 1.2, 6),
    }
    preset_help = {"source": "the Keras tutorial: 2 x 500, Adam, 40 epochs (the defaults)",
                   "small": "Zaremba et al.'s small model: 2 x 200, 13 epochs",
                   "medium": "Zaremba et al.'s medium model: 2 x 650, dropout 0.5, 39 epochs"}
    test_splits = ("test", "valid")
    carries_state = True
    fixed_length = False  # generation feeds a prompt of any length, then one word at a time
    codec_from_data = True
    tiny_options = {"embed": 8, "hidden": 8, "num_steps": 5}

    def __init__(self, options=None, data_dir: Optional[str] = None, seed: int = 0):
        super().__init__(options, data_dir, seed)
        self._ids: Dict[str, np.ndarray] = {}
        # Equal lengths (tracing needs no padding), in PTB's and the generated corpus' vocabulary.
        self._example = ["the company said", "the market fell"]

    @classmethod
    def tiny(cls, folder: Path, **options) -> "PtbTask":
        corpus = write_synthetic_corpus(Path(folder) / "ptb_tiny")
        return super().tiny(folder, **dict(options, corpus=str(corpus)))

    # -- data -------------------------------------------------------------------
    def path(self, split: str) -> Path:
        if self.options.corpus:
            path = Path(self.options.corpus) / ptb_data.split_file(split)
            if not path.is_file():
                raise UserError(f"{path} is missing; --corpus needs ptb.train.txt, "
                                "ptb.valid.txt and ptb.test.txt.")
            return path
        return locate(f"ptb/{ptb_data.split_file(split)}", self.data_dir)

    def prepare(self) -> None:
        tokens = {split: ptb_data.read_tokens(self.path(split)) for split in ptb_data.SPLITS}
        if self._codec is None:  # a reopened run keeps the vocabulary it trained with
            self._codec = WordCodec(ptb_data.build_vocab(tokens["train"]))
        self._ids = {split: ptb_data.to_ids(words, self._codec.index)
                     for split, words in tokens.items()}
        caps = {"train": self.options.train_tokens, "valid": self.options.eval_tokens,
                "test": self.options.eval_tokens}
        self._ids = {split: ids[:caps[split]] if caps[split] else ids
                     for split, ids in self._ids.items()}

    def split_ids(self, split: str) -> np.ndarray:
        """(tokens,) int32 word ids of ``split`` (train, valid or test) as training and
        evaluation read them: one stream, cut to --train-tokens / --eval-tokens."""
        if split not in self._ids:
            raise ValueError(f"no split {split!r} loaded; call prepare() first, and ask for "
                             f"one of {', '.join(ptb_data.SPLITS)}")
        return self._ids[split]

    def _windows(self, ids: np.ndarray, batch_size: int) -> Iterator[Batch]:
        rows = ptb_data.batchify(ids, batch_size)
        for data, label in ptb_data.bptt_windows(rows, self.options.num_steps):
            yield Batch((data,), label)

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        # Never shuffled: the carried state needs each row's text in order.
        return self._windows(ptb_data.shard_stream(self._ids["train"], *self._shard), batch_size)

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        return self._windows(self.split_ids(split), self.options.eval_batch_size)

    def lr_schedule(self, epoch: int, epochs: int) -> float:
        """Learning-rate factor for 0-based ``epoch`` (Zaremba: lr_decay ** max(epoch + 1 - decay_after, 0))."""
        return self.options.lr_decay ** max(epoch + 1 - self.options.decay_after, 0)

    # -- model ------------------------------------------------------------------
    def build_model(self, rnn_layer, for_export: bool = False):
        return WordLM(len(self.codec().vocab), self.options, rnn_layer, prefix="wordlm_")

    def initializer(self):
        scale = self.options.init_scale
        return mx.init.Uniform(scale) if scale > 0 else mx.init.Xavier()
