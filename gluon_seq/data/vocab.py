"""Every vocabulary in gluon_seq is ordered by ``gluonnlp.Vocab``.

Its order: the unknown token, then the padding token (each only if given), then
the tokens by count, ties in ``str`` order; ids stored in old run folders keep
their meaning (``tests/test_gluonnlp_equivalence.py``).  gluonnlp is imported
when a vocabulary is built, since it imports mxnet and the readers are numpy.
"""
from __future__ import annotations

from collections import Counter
from typing import List, Mapping, Optional, Sequence

from ..codecs.text import PAD, UNK


def ranked_tokens(counts: Mapping[str, int], max_size: Optional[int] = None,
                  unknown: Optional[str] = None, padding: Optional[str] = None) -> List[str]:
    """``gluonnlp.Vocab(counts).idx_to_token`` with only the special tokens asked for
    (PTB's ``<eos>`` is a counted word); ``max_size`` excludes the special ones."""
    import gluonnlp

    vocab = gluonnlp.Vocab(counts, max_size=max_size, unknown_token=unknown,
                           padding_token=padding, bos_token=None, eos_token=None)
    return list(vocab.idx_to_token)


def text_vocab(token_lists: Sequence[Sequence[str]], size: int) -> List[str]:
    """``<unk>`` (id 0), ``<pad>`` (id 1), then the ``size - 2`` most frequent tokens."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    return ranked_tokens(counts, size - 2, unknown=UNK, padding=PAD)
