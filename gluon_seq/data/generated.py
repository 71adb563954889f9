"""The data sets gluon_seq makes itself, from fixed seeds: arithmetic
expressions and their held-out share, count-ones bits, and stand-ins for the
real files (a bAbI task-1-like tarball, a PTB-shaped corpus) that the notebooks
fall back to and every tiny configuration uses.  Web traffic: :mod:`.web_traffic`.
"""
from __future__ import annotations

import io
import itertools
import tarfile
from pathlib import Path
from typing import List, Mapping, Tuple

import numpy as np

from ..util.files import atomic_save, atomic_write_text
from . import babi, ptb

# -- arithmetic -------------------------------------------------------------------
HELDOUT_SEED = 20190401  # fixed forever, so "held out" means the same expressions in every run


def all_expressions() -> List[str]:
    """The 2,000 distinct expressions, in a fixed order."""
    numbers = range(1, 11)
    return [op.join(map(str, triple))
            for op in "+*" for triple in itertools.product(numbers, repeat=3)]


def evaluate_expression(text: str) -> int:
    total = 0
    for term in text.split("+"):
        product = 1
        for factor in term.split("*"):
            product *= int(factor)
        total += product
    return total


def split_expressions(fraction: float) -> Tuple[List[str], List[str]]:
    """(train, heldout) expression lists; the held-out set depends only on ``fraction``."""
    expressions = all_expressions()
    order = np.random.RandomState(HELDOUT_SEED).permutation(len(expressions))
    cut = int(round(fraction * len(expressions)))
    heldout = sorted(expressions[i] for i in order[:cut])
    held = set(heldout)
    return [e for e in expressions if e not in held], heldout


# -- count-ones ---------------------------------------------------------------------
def bits_of(ids: np.ndarray, bits: int) -> np.ndarray:
    """(N,) integers -> (N, bits) int32 of their binary digits, most significant first."""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    return ((ids.astype(np.int64)[:, None] >> shifts) & 1).astype(np.int32)


# -- a bAbI task-1 stand-in -------------------------------------------------------------
def synthetic_qa1_text(count: int, seed: int) -> str:
    """``count`` tiny qa1-style stories (2-3 moves, then "Where is X?")."""
    rng = np.random.RandomState(seed)
    people, places = ["Mary", "John", "Sandra"], ["bathroom", "hallway", "garden", "office"]
    lines = []
    for _ in range(count):
        moves = [(people[rng.randint(3)], places[rng.randint(4)])
                 for _ in range(rng.randint(2, 4))]
        lines += [f"{i} {who} went to the {where}." for i, (who, where) in enumerate(moves, 1)]
        who, where = moves[-1]
        lines.append(f"{len(moves) + 1} Where is {who}?\t{where}\t{len(moves)}")
    return "\n".join(lines) + "\n"


def write_tarball(path: Path, members: Mapping[str, str]) -> Path:
    """A gzip tarball holding ``members`` (member name -> text), written atomically."""
    def write(tmp: str) -> None:
        with tarfile.open(tmp, "w:gz") as archive:
            for name, text in members.items():
                data = text.encode("utf-8")
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    atomic_save(Path(path), write)
    return Path(path)


def write_qa1_tarball(path: Path, train: int = 120, test: int = 20) -> Path:
    """A tarball in the official layout whose ``en`` task 1 holds generated stories."""
    return write_tarball(Path(path), {
        babi.member_name(1, "en", "train"): synthetic_qa1_text(train, 1),
        babi.member_name(1, "en", "test"): synthetic_qa1_text(test, 2)})


# -- a PTB stand-in -------------------------------------------------------------------------
SYNTHETIC_SENTENCES = [
    "the company said it expects N sales", "the market fell N points today",
    "investors sold shares of the <unk> company", "the bank said profit rose N %",
]


def write_synthetic_corpus(folder: Path, repeats: int = 40) -> Path:
    """A PTB-shaped corpus of four repeating sentences (train, valid, test) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", repeats), ("valid", 4), ("test", 4)):
        lines = [f" {s} " for _ in range(count) for s in SYNTHETIC_SENTENCES]
        atomic_write_text(folder / ptb.split_file(split), "\n".join(lines) + "\n")
    return folder
