"""bAbI story + question in, one-word answer out, for models whose memories are
sentences (the MemN2N memory network, :mod:`gluon_seq.models.memn2n`).

The input is the one the flat bAbI codec takes (``{"story": "...", "question":
"..."}``), but the story is split into sentences after each ``.``, ``?`` or
``!``, and encoded as

    stories    (N, M, J)  ids: one row of J words per memory slot
    questions  (N, J)     ids

Words fill a sentence from the left and are padded with 0 on the right (a
word's place in its sentence is its position), and sentences fill the memory
from the right, the newest in the last slot, keeping the last M (the
reference code's "50 most recent sentences").  With ``lowercase`` (the
memory network's runs, as in the reference code) the vocabulary is lower-case
and so is every input: bAbI's QA15 asks "What is gertrude afraid of?" of a
story about Gertrude.  Answers decode as in :class:`gluon_seq.codecs.babi.BabiCodec`.

:func:`attended_sentence` reads the attention output a bAbI export has after
its answer scores, for either codec: which sentence the model looked at most.
"""
from __future__ import annotations

import re
import sys
from typing import List, Sequence, Tuple

import numpy as np

from ..util.errors import UserError
from . import register_codec
from .babi import BabiCodec, tokenize

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
    """``vocab`` lists the words with ids 1..len(vocab); id 0 is padding.
    ``memory_size`` is M, ``sentence_length`` J (questions too).  ``encode``,
    ``decode`` and the CLI forms are the flat codec's, over this layout."""

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


def attended_sentence(codec: BabiCodec, item, attention: np.ndarray) -> dict:
    """The story sentence (of a dict input) one model looked at most, from that input's row of
    the attention output (a bAbI export's second output): ``{"sentence", "weight"}``
    and where the weight was found.

    Memory network (this module's codec), attention (K, M) per hop over memory
    slots: the sentence and ``hop`` of the largest weight.  Flat codec, match
    weights (S, Q) of story words against question words: the sentence holding
    the largest weight, with that ``story_word`` and ``question_word``."""
    attention = np.asarray(attention, dtype=np.float64)
    if isinstance(codec, MemoryCodec):
        count = len(codec.check(item)[0][-codec.memory_size:])
        weights = attention[:, -count:]                             # (K, n): the story's slots
        hop, index = np.unravel_index(int(weights.argmax()), weights.shape)
        shown = split_sentences(tokenize(item["story"]))[-count:]   # as the user wrote them
        return {"sentence": _text(shown[index]), "weight": float(weights[hop, index]),
                "hop": int(hop) + 1}
    story, question = codec.check(item)
    weights = attention[-len(story):, -len(question):]              # (S, Q): real tokens only
    position, word = np.unravel_index(int(weights.argmax()), weights.shape)
    start = 0
    for sentence in split_sentences(story):
        if position < start + len(sentence):
            break
        start += len(sentence)
    return {"sentence": _text(sentence), "weight": float(weights[position, word]),
            "story_word": story[position], "question_word": question[word]}


def _text(tokens: Sequence[str]) -> str:
    """Tokens as text: no space before punctuation."""
    return re.sub(r" ([^\w\s])", r"\1", " ".join(tokens))
