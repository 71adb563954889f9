"""Where datasets live, and checking that a known file is the one we expect.

Loaders take a path and read the canonical formats.  Nothing here downloads:
a missing or corrupt file is a :class:`UserError` that names the file, the
expected sha1 and the official place to get it.
"""
from __future__ import annotations

import hashlib
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Union

from ..util.errors import UserError, reason

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class KnownFile:
    relpath: str   # under the data root, e.g. "ptb/ptb.train.txt"
    sha1: str
    source: str    # where a user gets the official copy


KNOWN_FILES: Dict[str, KnownFile] = {f.relpath: f for f in [
    KnownFile("ptb/ptb.train.txt", "f9ffb014fa33bd5730e5029697ad245184f3a678",
              "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz (simple-examples/data/)"),
    KnownFile("ptb/ptb.valid.txt", "d9f5fed6afa5e1b82cd1e3e5f5040f6852940228",
              "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz (simple-examples/data/)"),
    KnownFile("ptb/ptb.test.txt", "5c15c548b42d80bce9332b788514e6635fb0226e",
              "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz (simple-examples/data/)"),
    KnownFile("babi/tasks_1-20_v1-2.tar.gz", "c1f6ed4973a4d80908089978ddc237c41fcb789a",
              "http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz"),
    KnownFile("imdb/aclImdb_v1_labeled.tar.gz", "efdb995efbd66c83a198f4c152c8b972f7591210",
              "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"),
]}

_REPO_ROOT = Path(__file__).resolve().parents[2]
_verified: Dict[Path, str] = {}


def default_data_dir() -> Path:
    """``../shared/data`` beside the checkout when it exists, else ``~/.gluon_seq/data``."""
    shared = _REPO_ROOT.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return Path(os.environ.get("GLUON_SEQ_DATA", Path.home() / ".gluon_seq" / "data"))


def data_root(data_dir: Optional[PathLike]) -> Path:
    return Path(data_dir) if data_dir else default_data_dir()


def sha1_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(relpath: str, data_dir: Optional[PathLike] = None, verify: bool = True) -> Path:
    """Path of ``relpath`` under the data root, checked against its known sha1; a
    UserError naming the file, the sha1 and the official source otherwise."""
    path = data_root(data_dir) / relpath
    known = KNOWN_FILES.get(relpath)
    where = f"; get it from {known.source}" if known else ""
    if not path.is_file():
        expected = f" (sha1 {known.sha1})" if known else ""
        raise UserError(f"{path} is missing{expected}{where}, or pass --data-dir.")
    if verify and known:
        resolved = path.resolve()
        if resolved not in _verified:
            _verified[resolved] = sha1_of(resolved)
        if _verified[resolved] != known.sha1:
            raise UserError(f"{path} is corrupt: sha1 {_verified[resolved]}, expected {known.sha1}"
                            f"{where}.")
    return path


ARCHIVE_ERRORS = (tarfile.TarError, OSError, EOFError, UnicodeDecodeError, zlib.error)


def unreadable(path: PathLike, what: str, err: BaseException) -> UserError:
    """The one-sentence error for a data file that cannot be read as ``what``."""
    if isinstance(err, UnicodeDecodeError):
        why = f"not UTF-8 text at byte {err.start}"
    elif isinstance(err, (tarfile.TarError, EOFError, zlib.error)):
        why = "not a tar archive, or a damaged or cut-off one"
    else:
        why = reason(err)
    return UserError(f"{path} is not a readable {what} ({why}).")
