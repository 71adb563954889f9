"""Free text in, a binary label with its probability out (sentiment, web traffic).

Tokens are words (lower-cased, ``<br />`` dropped, punctuation split off) or
characters (HTTP requests); ids are truncated from the front and left-padded to
``maxlen`` (:func:`~gluon_seq.codecs.left_pad`), unknown tokens ``<unk>``.
The tokenizer lives here, not in a task, so serving needs nothing else.
"""
from __future__ import annotations

import math
import re
from typing import Dict, List, Sequence

import numpy as np

from ..util.errors import UserError
from . import Codec, check_batch, left_pad, register_codec

UNK, PAD = "<unk>", "<pad>"
_BREAK = re.compile(r"<br\s*/?>", re.I)
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize_words(text: str) -> List[str]:
    """``"A <br />great film, isn't it?"`` -> ``['a', 'great', 'film', ',', "isn't", 'it', '?']``"""
    return _WORD.findall(_BREAK.sub(" ", text).lower())


def tokenize(text: str, unit: str) -> List[str]:
    return tokenize_words(text) if unit == "words" else list(text)


@register_codec("text")
class TextCodec(Codec):
    """``vocab``: the tokens by id, ``<unk>`` and ``<pad>`` among them; (N, 1) logits out."""

    def __init__(self, vocab: Sequence[str], maxlen: int, unit: str = "words",
                 labels: Sequence[str] = ("negative", "positive")):
        if unit not in ("words", "chars"):
            raise ValueError(f"unit must be 'words' or 'chars', not {unit!r}")
        self.vocab = list(vocab)
        self.maxlen = int(maxlen)
        self.unit = unit
        self.labels = list(labels)
        self.index: Dict[str, int] = {token: i for i, token in enumerate(self.vocab)}
        self.unk_id, self.pad_id = self.index[UNK], self.index[PAD]

    def to_meta(self) -> dict:
        return {"type": self.kind, "vocab": self.vocab, "maxlen": self.maxlen, "unit": self.unit,
                "labels": self.labels}

    def describe(self) -> str:
        kind = "text" if self.unit == "words" else "a request line"
        return (f"{kind}; the last {self.maxlen} {self.unit} are read, unknown ones as {UNK}; "
                f"answers {self.labels[0]!r} or {self.labels[1]!r} with a probability")

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """(maxlen,) int32: the last ``maxlen`` token ids, left-padded."""
        return self.encode_tokens([tokens])[0]

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        """(N, maxlen) ids for tokenized texts."""
        return left_pad(token_lists, self.maxlen, self.pad_id,
                        lambda token: self.index.get(token, self.unk_id))

    def check(self, text) -> List[str]:
        if not isinstance(text, str):
            raise UserError(f"input {text!r} is not a string.")
        tokens = tokenize(text, self.unit)
        if not tokens:
            raise UserError(f"an input is empty; give some text with at least one "
                            f"{self.unit[:-1]}.")
        return tokens

    def encode(self, inputs: Sequence) -> List[np.ndarray]:
        return [self.encode_tokens([self.check(t) for t in check_batch(inputs, "string")])]

    def decode(self, outputs: List[np.ndarray]) -> list:
        logits = np.asarray(outputs[0], dtype=np.float64).reshape(-1)  # (N,)
        answers = []
        for logit in logits:
            p = 1.0 / (1.0 + math.exp(-min(max(logit, -700.0), 700.0)))  # P(second label)
            label = 1 if p > 0.5 else 0
            answers.append({"label": self.labels[label],
                            "probability": round(p if label else 1.0 - p, 6)})
        return answers

    def format(self, given, answer) -> str:
        shown = given if len(given) <= 60 else given[:57] + "..."
        return f"{shown!r} -> {answer['label']} (p={answer['probability']:.3f})"
