"""Every vocabulary in gluon_seq is ordered by ``gluonnlp.Vocab``.

gluonnlp's order: the unknown token, then the padding token (each only if
given), then the tokens by count, most frequent first, ties in ``str`` order.
The PTB, bAbI and text vocabularies are that order with today's special
tokens, so ids stored in old run folders keep their meaning
(``tests/test_gluonnlp_equivalence.py`` holds the proof).

gluonnlp is imported when a vocabulary is built, not with this module: it
imports mxnet (about 1.5 s), and the readers that call it are otherwise numpy.
"""
from __future__ import annotations

from collections import Counter
from typing import List, Mapping, Optional, Sequence

from ..codecs.text import PAD, UNK


def ranked_tokens(counts: Mapping[str, int], max_size: Optional[int] = None,
                  unknown: Optional[str] = None, padding: Optional[str] = None) -> List[str]:
    """``gluonnlp.Vocab(counts).idx_to_token`` with only the special tokens asked for.

    Vocab adds ``<unk>``, ``<pad>``, ``<bos>`` and ``<eos>`` unless told not
    to; PTB's ``<eos>`` is an ordinary counted word, so all four are explicit.
    ``max_size`` counts the tokens after the special ones.
    """
    import gluonnlp

    vocab = gluonnlp.Vocab(counts, max_size=max_size, unknown_token=unknown,
                           padding_token=padding, bos_token=None, eos_token=None)
    return list(vocab.idx_to_token)


def text_vocab(token_lists: Sequence[Sequence[str]], size: int) -> List[str]:
    """The ``size - 2`` most frequent tokens after ``<unk>`` (id 0) and ``<pad>`` (id 1):
    the :class:`~gluon_seq.codecs.text.TextCodec` vocabulary of sentiment and web traffic."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    return ranked_tokens(counts, size - 2, unknown=UNK, padding=PAD)
