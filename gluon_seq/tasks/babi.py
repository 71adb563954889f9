"""bAbI question answering: the Keras ``babi_memnn`` memory network
(:class:`gluon_seq.models.memnn.MemNN`).

Story and question are word ids, left-padded to lengths measured on the
task's train + test data (as the source does).  The source's answer LSTM runs
over the question's few words, so it has to find "the latest sentence about
Mary" with position-specific weights; it stalls below the source's figure
here.  ``--read story`` (preset ``read-story``) runs the same LSTM over the
story instead, one step per story word with that word's response (match + c)
next to its embedding m, so it can overwrite a person's location as it reads.
Everything else is unchanged.

Defaults reproduce the source: QA1 of en-10k, rmsprop, batch 32, 120 epochs.
Keras reports 98.6 % test accuracy there.  Unlike the source, which
validates on the test set, 10 % of the training questions are held out for
checkpoint selection (``--valid-fraction``).

Example, after training::

    gluon-seq predict runs/babi/export --story "Mary moved to the bathroom. \
John went to the hallway." --question "Where is Mary?"
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mxnet import gluon

from ..codecs.babi import BabiCodec
from ..data import babi as babi_data
from ..data import locate
from ..data.generated import write_qa1_tarball
from ..errors import UserError
from ..models.memnn import MemNN
from ..settings import dropout_rate, flag, fraction, option, text, whole
from . import register
from .base import Task

TARBALL = "babi/tasks_1-20_v1-2.tar.gz"
SPLIT_SEED = 20150219  # fixed, so the held-out questions are the same in every run


@dataclass
class BabiOptions:
    qa: int = field(default=1, metadata={
        "flag": "--task", "choices": list(range(1, 21)), "help": "bAbI task number"})
    subset: str = field(default="en-10k", metadata={
        "flag": "--set", "choices": list(babi_data.SETS),
        "help": "en: 1,000 training questions per task; en-10k: 10,000"})
    only_supporting: bool = field(default=False, metadata={"check": flag(),
        "help": "keep only each question's supporting facts as its story"})
    embed: int = option(64, whole(1))
    hidden: int = option(32, whole(1))
    dropout: float = option(0.3, dropout_rate())
    attention: str = field(default="query", metadata={
        "choices": ["query", "story"],
        "help": "axis the match softmax normalises over (query = the source's Keras behaviour)"})
    read: str = field(default="question", metadata={
        "choices": ["question", "story"],
        "help": "axis the answer LSTM runs over: the question's words (the source) or the story's, "
                "reading each story word's response next to its embedding"})
    valid_fraction: float = field(default=0.1, metadata={"check": fraction(),
        "help": "share of the training questions held out to pick the best epoch"})
    tarball: str = field(default="", metadata={"check": text(),
        "help": "read this bAbI tarball (official layout) instead of the one in the data folder"})


@register
class BabiTask(Task):
    name = "babi"
    loss_block = gluon.loss.SoftmaxCrossEntropyLoss()
    Options = BabiOptions
    defaults = {"epochs": 120, "batch_size": 32, "lr": 1e-3, "optimizer": "rmsprop", "clip": None}
    presets = {
        "source": {},
        # The answer LSTM reads the story instead of the question (see BENCHMARKS.md).
        "read-story": {"read": "story"},
    }
    codec_from_data = True
    legacy_codec_file = "babi_vocab.json"
    tiny_options = {"subset": "en", "embed": 8, "hidden": 6}

    def __init__(self, options=None, data_dir: Optional[str] = None, seed: int = 0):
        super().__init__(options, data_dir, seed)
        self.tarball: Optional[Path] = None  # set to read another tarball than the shared one

    @classmethod
    def tiny(cls, folder: Path) -> "BabiTask":
        """A tiny model on a generated en/qa1 tarball written into ``folder``."""
        task = cls(cls.make_options(dict(cls.tiny_options)))
        task.tarball = write_qa1_tarball(Path(folder) / "babi_tiny.tar.gz")
        return task

    # -- data -------------------------------------------------------------------
    def load_samples(self) -> Tuple[List[babi_data.Sample], List[babi_data.Sample]]:
        """(train, test) samples of the chosen task and set."""
        opts = self.options
        tarball = self.tarball or (Path(opts.tarball) if opts.tarball
                                   else locate(TARBALL, self.data_dir))
        if not Path(tarball).is_file():
            raise UserError(f"{tarball} is missing; pass a bAbI tarball in the official layout.")
        return tuple(babi_data.load_split(tarball, opts.qa, opts.subset, split,
                                          opts.only_supporting) for split in ("train", "test"))

    def prepare(self) -> None:
        train, test = self.load_samples()
        if self._codec is None:  # a reopened run keeps the vocabulary it trained with
            vocab = babi_data.build_vocab(train + test)
            self._codec = BabiCodec(vocab, *babi_data.max_lengths(train + test))
            self._example = [babi_data.sample_text(s) for s in test[:2]]
        order = np.random.RandomState(SPLIT_SEED).permutation(len(train))
        held = int(round(self.options.valid_fraction * len(train)))
        if not 0 < held < len(train):
            raise UserError("--valid-fraction must leave at least one question for validation "
                            "and one for training.")
        self._arrays = {"train": self._encode([train[i] for i in order[held:]]),
                        "valid": self._encode([train[i] for i in order[:held]]),
                        "test": self._encode(test)}

    def _encode(self, samples: Sequence[babi_data.Sample]):
        """(stories (N, S), questions (N, Q), answers (N,)) ids."""
        codec = self._codec
        unknown = babi_data.unknown_words(
            (t for s in samples for t in s.story + s.question + [s.answer]), codec.vocab)
        if unknown:
            raise UserError(f"the data has words the saved vocabulary lacks: {', '.join(unknown)}.")
        too_long = [s for s in samples if len(s.story) > codec.story_maxlen
                    or len(s.question) > codec.query_maxlen]
        if too_long:
            raise UserError(f"{len(too_long)} question(s) are longer than the saved lengths "
                            f"({codec.story_maxlen}, {codec.query_maxlen}).")
        stories, questions = codec.encode_tokens([(s.story, s.question) for s in samples])
        answers = np.array([codec.index[s.answer] for s in samples], dtype=np.int32)
        return stories, questions, answers

    # -- model ------------------------------------------------------------------
    def build_model(self, rnn_layer):
        codec, opts = self.codec(), self.options
        return MemNN(codec.vocab_size, codec.story_maxlen, codec.query_maxlen, opts.embed,
                     opts.hidden, opts.dropout, opts.attention, rnn_layer, read=opts.read,
                     prefix="memnn_")
