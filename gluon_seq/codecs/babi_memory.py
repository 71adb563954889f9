"""bAbI story + question in, one-word answer out, for models whose memories are
sentences (the MemN2N memory network, :mod:`gluon_seq.models.memn2n`).

The flat codec's input, the story split into sentences after ``.``, ``?`` or
``!``: stories (N, M, J) ids, one sentence of J words per memory slot, and
questions (N, J).  Words fill a sentence from the left (padded with 0 on the
right); sentences fill the memory from the right, newest last, keeping the
last M.  With ``lowercase`` (as the reference code reads) every input is
lower-cased too: QA15 asks "What is gertrude afraid of?" of Gertrude.
"""
from __future__ import annotations

import sys
from typing import List, Sequence, Tuple

import numpy as np

from ..util.errors import UserError
from . import register_codec
from .babi import BabiCodec, detokenize, tokenize

ENDS = {".", "?", "!"}
TEXTS = ("story", "question")


def split_sentences(tokens: Sequence[str]) -> List[List[str]]:
    """Tokens cut after each sentence mark; trailing words without one are a sentence too."""
    sentences, current = [], []
    for token in tokens:
        current.append(token)
        if token in ENDS:
            sentences.append(current)
            current = []
    return sentences + ([current] if current else [])


@register_codec("babi-memory")
class MemoryCodec(BabiCodec):
    """:class:`BabiCodec` over M = ``memory_size`` sentences of J = ``sentence_length`` words."""

    def __init__(self, vocab: Sequence[str], memory_size: int, sentence_length: int,
                 lowercase: bool = False):
        # The flat codec's checks apply (a dict of two texts, known words, the question's
        # length); a story of any length passes: the memory keeps its last M sentences.
        super().__init__(vocab, story_maxlen=sys.maxsize, query_maxlen=sentence_length)
        self.memory_size = int(memory_size)
        self.sentence_length = int(sentence_length)
        self.lowercase = bool(lowercase)  # the vocabulary is lower-case; so is every input

    def to_meta(self) -> dict:
        return {"type": self.kind, "vocab": self.vocab, "memory_size": self.memory_size,
                "sentence_length": self.sentence_length, "lowercase": self.lowercase}

    def fold(self, text: str) -> str:
        """``text`` as the vocabulary spells it."""
        return text.lower() if self.lowercase else text

    def describe(self) -> str:
        return (f'{{"story": "...", "question": "..."}}: sentences of at most '
                f"{self.sentence_length} tokens (the last {self.memory_size} are kept), words "
                f"from a {len(self.vocab)}-word vocabulary")

    # -- encoding -------------------------------------------------------------
    def encode_tokens(self, pairs: Sequence[Tuple[Sequence[Sequence[str]], Sequence[str]]]
                      ) -> List[np.ndarray]:
        """[(N, M, J), (N, J)] int32 ids for (sentences, question) token lists."""
        size, length = self.memory_size, self.sentence_length
        stories = np.zeros((len(pairs), size, length), dtype=np.int32)
        questions = np.zeros((len(pairs), length), dtype=np.int32)
        for row, (sentences, question) in enumerate(pairs):
            kept = list(sentences)[-size:] if size else []
            for slot, sentence in enumerate(kept, size - len(kept)):
                stories[row, slot, :len(sentence)] = [self.index[t] for t in sentence]
            questions[row, :len(question)] = [self.index[t] for t in question]
        return [stories, questions]

    def check(self, item) -> Tuple[List[List[str]], List[str]]:
        """(sentences, question tokens) of one input; UserError on anything else."""
        if isinstance(item, (list, tuple)) and len(item) == 2:
            item = {"story": item[0], "question": item[1]}
        if isinstance(item, dict) and all(isinstance(item.get(k), str) for k in TEXTS):
            item = {k: self.fold(item[k]) for k in TEXTS}
        story, question = super().check(item)
        sentences = split_sentences(story)
        longest = max(sentences, key=len)
        if len(longest) > self.sentence_length:
            raise UserError(f"the story sentence {' '.join(longest)!r} has {len(longest)} tokens; "
                            f"this model reads at most {self.sentence_length} per sentence.")
        return sentences, question


def attended_sentence(codec: BabiCodec, item, attention: np.ndarray, rows: str = "hop") -> dict:
    """``{"sentence", "weight"}``: the story sentence of a dict input that the model
    looked at most, from its row of a bAbI export's second output: MemN2N's (K, M)
    attention per hop, or EntNet's (m, M) gates per memory block (adds ``rows``, the
    1-based hop or block), or the flat model's (S, Q) match weights (adds ``story_word``
    and ``question_word``)."""
    attention = np.asarray(attention, dtype=np.float64)
    if isinstance(codec, MemoryCodec):
        count = len(codec.check(item)[0][-codec.memory_size:])
        weights = attention[:, -count:]                             # (K, n): the story's slots
        hop, index = np.unravel_index(int(weights.argmax()), weights.shape)
        shown = split_sentences(tokenize(item["story"]))[-count:]   # as the user wrote them
        return {"sentence": detokenize(shown[index]), "weight": float(weights[hop, index]),
                rows: int(hop) + 1}
    story, question = codec.check(item)
    weights = attention[-len(story):, -len(question):]              # (S, Q): real tokens only
    position, word = np.unravel_index(int(weights.argmax()), weights.shape)
    start = 0
    for sentence in split_sentences(story):
        if position < start + len(sentence):
            break
        start += len(sentence)
    return {"sentence": detokenize(sentence), "weight": float(weights[position, word]),
            "story_word": story[position], "question_word": question[word]}
