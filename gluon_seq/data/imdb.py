"""Reader for the IMDB Large Movie Review Dataset (Maas et al., 2011).

Reads the official layout, ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``,
straight from the tarball or from an extracted folder.  Reviews come back in
a fixed order (split, then negative before positive, then by id), so a run
is reproducible whatever order the archive lists its members in.
"""
from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Dict, List, Tuple, Union

from ..util.errors import UserError
from .files import ARCHIVE_ERRORS, unreadable

TARBALL = "imdb/aclImdb_v1_labeled.tar.gz"
SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")

Reviews = Dict[str, Tuple[List[str], List[int]]]


def _collect(entries) -> Reviews:
    """entries: iterable of (path inside the dataset, text loader)."""
    found: Dict[str, List[Tuple[int, int, str]]] = {split: [] for split in SPLITS}
    for name, load in entries:
        match = _MEMBER.search(name)
        if match:
            split, polarity, review_id, _ = match.groups()
            found[split].append((LABELS[polarity], int(review_id), load()))
    reviews = {}
    for split, rows in found.items():
        rows.sort(key=lambda row: row[:2])
        reviews[split] = ([text for _, _, text in rows], [label for label, _, _ in rows])
    return reviews


def read_imdb(path: Union[str, Path]) -> Reviews:
    """``{"train": (texts, labels), "test": (texts, labels)}``, label 1 = positive, from
    the tarball, a folder holding ``aclImdb/``, or ``aclImdb/`` itself."""
    path = Path(path)
    if path.is_dir():
        root = path if path.name == "aclImdb" else path / "aclImdb"
        files = sorted(root.glob("*/*/*.txt"))
        reviews = _collect((f"aclImdb/{f.relative_to(root).as_posix()}",
                            lambda f=f: f.read_text(encoding="utf-8")) for f in files)
    else:
        try:
            with tarfile.open(path, "r:*") as archive:
                reviews = _collect((member.name, lambda m=member, a=archive: a.extractfile(m)
                                    .read().decode("utf-8")) for member in archive
                                   if member.isfile())
        except ARCHIVE_ERRORS as err:
            raise unreadable(path, "IMDB tarball", err) from None
    empty = [split for split in SPLITS if not reviews[split][0]]
    if empty:
        raise UserError(f"{path} has no aclImdb/{empty[0]}/{{pos,neg}}/*.txt reviews; expected "
                        "the official aclImdb layout (https://ai.stanford.edu/~amaas/data/"
                        "sentiment/aclImdb_v1.tar.gz).")
    return reviews


def count_reviews(path: Union[str, Path]) -> Dict[str, Dict[str, int]]:
    """Reviews per split and polarity, from member names alone (no text is decoded)."""
    counts = {split: {"neg": 0, "pos": 0} for split in SPLITS}
    with tarfile.open(path, "r:*") as archive:
        for name in archive.getnames():
            match = _MEMBER.search(name)
            if match:
                counts[match.group(1)][match.group(2)] += 1
    return counts
