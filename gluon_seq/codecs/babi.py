"""bAbI story + question in, one-word answer out.

An input is ``{"story": "Mary moved to the bathroom. ...", "question": "Where is Mary?"}``:
words and punctuation as ids (0 pads), left-padded to the model's lengths.  The
model returns (N, V) scores; the answer is the best word and its softmax
probability.  The bAbI reader tokenizes with this module's :func:`tokenize`, so
training and serving read a text alike.
"""
from __future__ import annotations

import re
from typing import List, Sequence, Tuple

import numpy as np

from ..util.errors import UserError
from . import Codec, check_batch, left_pad, register_codec

_TOKEN = re.compile(r"\w+|[^\w\s]")
PAD = "<pad>"


def tokenize(text: str) -> List[str]:
    """Words and punctuation marks, case kept (the reader's and the server's alike)."""
    return _TOKEN.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """Tokens as text: no space before punctuation."""
    return re.sub(r" ([^\w\s])", r"\1", " ".join(tokens))


@register_codec("babi")
class BabiCodec(Codec):
    """``vocab`` lists the words with ids 1..len(vocab); id 0 is padding."""

    def __init__(self, vocab: Sequence[str], story_maxlen: int, query_maxlen: int):
        self.vocab = list(vocab)
        self.story_maxlen = int(story_maxlen)
        self.query_maxlen = int(query_maxlen)
        self.index = {word: i + 1 for i, word in enumerate(self.vocab)}

    @property
    def vocab_size(self) -> int:
        """Output classes, padding included."""
        return len(self.vocab) + 1

    def to_meta(self) -> dict:
        return {"type": self.kind, "vocab": self.vocab, "story_maxlen": self.story_maxlen,
                "query_maxlen": self.query_maxlen}

    def describe(self) -> str:
        return (f'{{"story": "...", "question": "..."}}: at most {self.story_maxlen} story and '
                f"{self.query_maxlen} question tokens, words from a {len(self.vocab)}-word vocabulary")

    # -- encoding -------------------------------------------------------------
    def ids(self, tokens: Sequence[str], length: int) -> np.ndarray:
        """(length,) int32 ids, left-padded with 0 and keeping the last ``length`` tokens."""
        return left_pad([tokens], length, 0, self.index.__getitem__)[0]

    def encode_tokens(self, pairs: Sequence[Tuple[Sequence[str], Sequence[str]]]
                      ) -> List[np.ndarray]:
        """[(N, story_maxlen), (N, query_maxlen)] ids for tokenized (story, question) pairs."""
        stories = left_pad([s for s, _ in pairs], self.story_maxlen, 0, self.index.__getitem__)
        questions = left_pad([q for _, q in pairs], self.query_maxlen, 0, self.index.__getitem__)
        return [stories, questions]

    def check(self, item) -> Tuple[List[str], List[str]]:
        """Tokens of one ``{"story", "question"}`` input; UserError on anything else."""
        if isinstance(item, (list, tuple)) and len(item) == 2:
            item = {"story": item[0], "question": item[1]}
        if not isinstance(item, dict) or not isinstance(item.get("story"), str) \
                or not isinstance(item.get("question"), str):
            raise UserError('each bAbI input must be {"story": "...", "question": "..."} '
                            "with both texts given.")
        story, question = tokenize(item["story"]), tokenize(item["question"])
        if not story or not question:
            raise UserError("the story and the question must both contain words.")
        unknown = sorted({t for t in story + question if t not in self.index})
        if unknown:
            raise UserError(f"unknown word(s) {', '.join(unknown)}; this model knows only: "
                            f"{' '.join(self.vocab)}.")
        for what, tokens, limit in (("story", story, self.story_maxlen),
                                    ("question", question, self.query_maxlen)):
            if len(tokens) > limit:
                raise UserError(f"the {what} has {len(tokens)} tokens; this model reads at "
                                f"most {limit}.")
        return story, question

    def encode(self, inputs: Sequence) -> List[np.ndarray]:
        pairs = [self.check(item) for item in check_batch(inputs, "story/question dict")]
        return self.encode_tokens(pairs)

    # -- decoding -------------------------------------------------------------
    def decode(self, outputs: List[np.ndarray]) -> list:
        scores = np.asarray(outputs[0], dtype=np.float64)  # (N, V)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        best = probs.argmax(axis=-1)
        words = [PAD] + self.vocab
        return [{"answer": words[i], "probability": round(float(p[i]), 6)}
                for i, p in zip(best, probs)]

    def format(self, given, answer) -> str:
        question = given["question"] if isinstance(given, dict) else given[1]
        return f"{question.strip()} {answer['answer']} (p={answer['probability']:.3f})"

    def parse_cli(self, args: Sequence[str], **named) -> list:
        story, question = named.get("story"), named.get("question")
        if story is None and question is None and not args:
            return []
        if story is None or question is None or args:
            raise UserError('bAbI models take --story "..." --question "..." (both, and '
                            "no other inputs).")
        return [{"story": story, "question": question}]

