"""Penn Treebank (Mikolov's ``simple-examples``) reader and BPTT batching.

One sentence per line, lower-cased, rare words ``<unk>``; the reader appends
``<eos>`` per line, so ``ptb.train.txt`` gives 929,589 tokens over 10,000
types.  Only :func:`build_vocab` calls gluonnlp.  Batching stays ours:
gluonnlp's ``CorpusBPTTBatchify(last_batch="discard")`` gives the same windows
(a test compares them), but looks tokens up through a ``Vocab`` and returns
time-major float32 NDArrays, which costs several times this numpy batching.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np

from ..util.errors import UserError
from .files import unreadable
from .vocab import ranked_tokens

EOS, UNK = "<eos>", "<unk>"
SPLITS = ("train", "valid", "test")


def split_file(split: str) -> str:
    return f"ptb.{split}.txt"


def read_tokens(path: Path) -> List[str]:
    """Whitespace tokens of every line, each line followed by ``<eos>``."""
    tokens: List[str] = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                tokens.extend(line.split())
                tokens.append(EOS)
    except UnicodeDecodeError as err:
        raise unreadable(path, "PTB text file", err) from None
    if not tokens:
        raise UserError(f"{path} holds no text; a PTB file has one sentence per line.")
    return tokens


def build_vocab(tokens: Sequence[str]) -> List[str]:
    """Every distinct token, most frequent first (ties alphabetical): gluonnlp's order.
    ``<unk>`` stays a counted word (id 1 on PTB train), not a special token at id 0;
    a corpus without it gets one appended, so unknown prompt words have an id."""
    counts = Counter(tokens)
    vocab = ranked_tokens(counts)
    if UNK not in counts:
        vocab.append(UNK)
    return vocab


def to_ids(tokens: Sequence[str], index: Dict[str, int]) -> np.ndarray:
    """(len(tokens),) int32 ids; tokens outside ``index`` become ``<unk>``."""
    unk = index[UNK]
    return np.fromiter((index.get(t, unk) for t in tokens), dtype=np.int32, count=len(tokens))


def shard_stream(ids: np.ndarray, rank: int, workers: int) -> np.ndarray:
    """The ``rank``-th of ``workers`` equal pieces of the stream (dist_sync needs equal)."""
    piece = len(ids) // workers
    return ids[rank * piece:(rank + 1) * piece]


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut the stream into ``batch_size`` rows, each a contiguous run of text.

    A stream of 26 tokens ``a b c ... z`` with batch_size 4 becomes (the two
    leftover tokens ``y z`` are dropped)::

        row 0:  a b c d e f
        row 1:  g h i j k l
        row 2:  m n o p q r
        row 3:  s t u v w x

    so a hidden state carried along a row sees the text continue.  Returns
    (batch_size, len(ids) // batch_size) int32, gluonnlp's ``CorpusBatchify``
    transposed; too short a text is an error rather than zero windows.
    """
    columns = len(ids) // batch_size
    if columns < 2:
        raise UserError(f"the text has {len(ids)} tokens, too few for {batch_size} rows of at "
                        "least 2; use a smaller --batch-size or a longer text.")
    return np.ascontiguousarray(ids[:batch_size * columns].reshape(batch_size, columns))


def bptt_windows(rows: np.ndarray, num_steps: int) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Consecutive (data, label) windows of ``num_steps`` columns; label = data
    shifted one token to the left.  With the rows above and num_steps 2::

        window 0:  data [a b]   label [b c]      (row 0; rows 1-3 alike)
        window 1:  data [c d]   label [d e]
        window 2:  data [e]     -> dropped: only full windows are kept

    A short last window is dropped because an unfused graph has a fixed length.
    Each array is (batch, num_steps) int32: gluonnlp's ``CorpusBPTTBatchify``
    windows with ``last_batch="discard"``, transposed.
    """
    usable = rows.shape[1] - 1  # the last column has no next token to predict
    for start in range(0, usable - num_steps + 1, num_steps):
        yield (rows[:, start:start + num_steps], rows[:, start + 1:start + 1 + num_steps])


def count_windows(tokens: int, batch_size: int, num_steps: int) -> int:
    """How many windows :func:`bptt_windows` yields for a stream of ``tokens``."""
    return max((tokens // batch_size - 1) // num_steps, 0)
