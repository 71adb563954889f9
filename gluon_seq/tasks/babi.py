"""bAbI question answering: the Keras ``babi_memnn`` memory network.

Story and question are word ids, left-padded to lengths measured on the
task's train + test data (as the source does).  Two embeddings of the story
(``m``: 64-d, ``c``: query_maxlen-d) and one of the question (64-d) give

    match    = softmax(m . q)               (N, S, Q)
    response = (match + c) permuted         (N, Q, S)
    answer   = LSTM(32)([response, q])      over the Q question positions
    scores   = Dense(vocab)(Dropout(answer))

The source applies Keras ``Activation('softmax')`` to the (N, S, Q) match,
which normalises over the *question* axis; that is our default
(``--attention query``).  ``--attention story`` normalises over story
positions instead, as an end-to-end memory network does.

The source's answer LSTM runs over the question's few words, so it has to
find "the latest sentence about Mary" with position-specific weights; it
stalls below the source's figure here.  ``--read story`` (preset
``read-story``) runs the same LSTM over the story instead, one step per story
word with that word's response (match + c) next to its embedding m, so it can
overwrite a person's location as it reads.  Everything else is unchanged.

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
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from .. import babi_data
from ..codecs.babi import BabiCodec, tokenize
from ..data import locate
from ..errors import UserError
from ..layers import LSTM
from ..metrics import Accuracy
from . import register
from .base import Batch, DataCodecMixin, Task, iterate_minibatches

TARBALL = "babi/tasks_1-20_v1-2.tar.gz"
SPLIT_SEED = 20150219  # fixed, so the held-out questions are the same in every run

# Built once: a loss has no parameters, and a Block per training step is needless work.
_LOSS = gluon.loss.SoftmaxCrossEntropyLoss()


@dataclass
class BabiOptions:
    qa: int = field(default=1, metadata={
        "flag": "--task", "choices": list(range(1, 21)), "help": "bAbI task number"})
    subset: str = field(default="en-10k", metadata={
        "flag": "--set", "choices": list(babi_data.SETS),
        "help": "en: 1,000 training questions per task; en-10k: 10,000"})
    only_supporting: bool = field(default=False, metadata={
        "help": "keep only each question's supporting facts as its story"})
    embed: int = 64
    hidden: int = 32
    dropout: float = 0.3
    attention: str = field(default="query", metadata={
        "choices": ["query", "story"],
        "help": "axis the match softmax normalises over (query = the source's Keras behaviour)"})
    read: str = field(default="question", metadata={
        "choices": ["question", "story"],
        "help": "axis the answer LSTM runs over: the question's words (the source) or the story's, "
                "reading each story word's response next to its embedding"})
    valid_fraction: float = field(default=0.1, metadata={
        "help": "share of the training questions held out to pick the best epoch"})
    tarball: str = field(default="", metadata={
        "help": "read this bAbI tarball (official layout) instead of the one in the data folder"})


class MemNN(gluon.HybridBlock):
    """Inputs: story ids (N, S), question ids (N, Q), LSTM states (1, N, H) x2.
    Output: (N, V) answer scores (logits)."""

    def __init__(self, vocab_size: int, story_maxlen: int, query_maxlen: int, embed: int,
                 hidden: int, dropout: float, attention: str, backend: str, read: str = "question",
                 ctx=None, **kwargs):
        super().__init__(**kwargs)
        self._dropout = dropout
        self._read = read
        self._softmax_axis = 2 if attention == "query" else 1  # over Q or over S
        small = mx.init.Uniform(0.05)  # Keras' Embedding default
        with self.name_scope():
            self.encoder_m = gluon.nn.Embedding(vocab_size, embed, weight_initializer=small,
                                                prefix="encoder_m_")
            self.encoder_c = gluon.nn.Embedding(vocab_size, query_maxlen,
                                                weight_initializer=small, prefix="encoder_c_")
            self.question_encoder = gluon.nn.Embedding(vocab_size, embed, weight_initializer=small,
                                                       prefix="question_encoder_")
            # Keras LSTM: orthogonal recurrent weights and a forget-gate bias of 1.
            steps, width = ((query_maxlen, story_maxlen + embed) if read == "question"
                            else (story_maxlen, query_maxlen + embed))
            self.lstm = LSTM(hidden, backend=backend, input_size=width, length=steps, ctx=ctx,
                             h2h_weight_initializer=mx.init.Orthogonal(scale=1.0),  # Keras gain 1
                             i2h_bias_initializer=mx.init.LSTMBias(forget_bias=1.0),
                             prefix="lstm_")
            self.output = gluon.nn.Dense(vocab_size, in_units=hidden, prefix="output_")

    def begin_state(self, batch_size: int, ctx=None):
        return self.lstm.begin_state(batch_size, ctx)

    def _match(self, F, story, question):
        m = F.Dropout(self.encoder_m(story), p=self._dropout)          # (N, S, E)
        q = F.Dropout(self.question_encoder(question), p=self._dropout)  # (N, Q, E)
        scores = F.batch_dot(m, q, transpose_b=True)                   # (N, S, Q)
        return F.softmax(scores, axis=self._softmax_axis), m, q

    def hybrid_forward(self, F, story, question, h0, c0):
        match, m, q = self._match(F, story, question)  # (N, S, Q), (N, S, E), (N, Q, E)
        c = F.Dropout(self.encoder_c(story), p=self._dropout)          # (N, S, Q)
        if self._read == "question":
            response = F.transpose(match + c, axes=(0, 2, 1))          # (N, Q, S)
            answer = F.concat(response, q, dim=2)                      # (N, Q, S + E)
        else:
            answer = F.concat(match + c, m, dim=2)                     # (N, S, Q + E)
        steps, _ = self.lstm(F.transpose(answer, axes=(1, 0, 2)), [h0, c0])  # (steps, N, H)
        last = F.squeeze(F.slice_axis(steps, axis=0, begin=-1, end=None), axis=0)  # (N, H)
        return self.output(F.Dropout(last, p=self._dropout))          # (N, V)

    def attention(self, story: mx.nd.NDArray, question: mx.nd.NDArray) -> np.ndarray:
        """The match weights (N, S, Q) for id arrays, computed in inference mode."""
        with mx.autograd.predict_mode():
            match, _, _ = self._match(mx.nd, story, question)
        return match.asnumpy()


@register
class BabiTask(DataCodecMixin, Task):
    name = "babi"
    metric = "accuracy"
    Options = BabiOptions
    defaults = {"epochs": 120, "batch_size": 32, "lr": 1e-3, "optimizer": "rmsprop", "clip": None}
    presets = {
        "source": {},
        # The answer LSTM reads the story instead of the question (see BENCHMARKS.md).
        "read-story": {"read": "story"},
    }
    valid_split = "valid"
    artifact_file = "babi_vocab.json"
    test_splits = ("test",)

    def __init__(self, options=None, data_dir: Optional[str] = None, seed: int = 0):
        super().__init__(options, data_dir, seed)
        self._codec: Optional[BabiCodec] = None
        self._example: List[Dict[str, str]] = []
        self._arrays: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.tarball: Optional[Path] = None  # set to read another tarball than the shared one

    @classmethod
    def smoke_task(cls, folder: Path) -> "BabiTask":
        """A tiny model on a synthetic en/qa1 tarball written into ``folder`` (tests)."""
        members = {babi_data.member_name(1, "en", "train"): babi_data.synthetic_qa1_text(120, 1),
                   babi_data.member_name(1, "en", "test"): babi_data.synthetic_qa1_text(20, 2)}
        task = cls(cls.make_options({"subset": "en", "embed": 8, "hidden": 6}))
        task.tarball = babi_data.write_tarball(Path(folder) / "babi_smoke.tar.gz", members)
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

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        stories, questions, answers = self._arrays["train"]
        return iterate_minibatches((stories, questions), answers, batch_size,
                                   shuffle_seed=self.seed * 100003 + epoch, shard=self._shard)

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        if split not in self._arrays:
            raise ValueError(f"unknown split {split!r}")
        stories, questions, answers = self._arrays[split]
        return iterate_minibatches((stories, questions), answers, batch_size)

    # -- model ------------------------------------------------------------------
    def build_model(self, backend: str, ctx=None):
        codec, opts = self.codec(), self.options
        return MemNN(codec.vocab_size, codec.story_maxlen, codec.query_maxlen, opts.embed,
                     opts.hidden, opts.dropout, opts.attention, backend, read=opts.read, ctx=ctx,
                     prefix="memnn_")

    def loss(self, pred, label):
        return _LOSS(pred, label)  # (N,)

    def new_metric(self):
        return Accuracy()





def attention_weights(model: MemNN, codec: BabiCodec, story: str, question: str
                      ) -> Tuple[np.ndarray, List[str], List[str]]:
    """Match weights over the real (unpadded) tokens: ((S_real, Q_real), story tokens,
    question tokens), for a live or reloaded model."""
    story_tokens, question_tokens = codec.check({"story": story, "question": question})
    stories, questions = codec.encode_tokens([(story_tokens, question_tokens)])
    weights = model.attention(mx.nd.array(stories), mx.nd.array(questions))[0]  # (S, Q)
    return weights[-len(story_tokens):, -len(question_tokens):], story_tokens, question_tokens


def plot_run_attention(run_dir: Path, story: str, question: str, path: Path) -> Path:
    """Reload a trained run and save the heat map of its match weights as a PNG."""
    from ..plots import save_attention_heatmap
    from ..training import load_run

    _, task, model, _ = load_run(run_dir)
    weights, story_tokens, question_tokens = attention_weights(model, task.codec(), story,
                                                               question)
    answer = task.codec().decode([model(*[mx.nd.array(a) for a in task.codec().encode(
        [{"story": story, "question": question}])], *model.begin_state(1)).asnumpy()])[0]
    return save_attention_heatmap(weights, story_tokens, question_tokens, path,
                                  title=f"{question} -> {answer['answer']}")


__all__ = ["BabiTask", "MemNN", "attention_weights", "plot_run_attention", "tokenize"]
