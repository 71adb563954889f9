"""Files written whole or not at all, and JSON objects read with one-sentence errors.

Every file of a run or export folder goes through :func:`atomic_save`, so a crash
or a full disk never leaves a torn file, with the modes the user's umask gives
(as a plain ``open`` would), so another account can read what it serves.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Dict

from .errors import UserError, reason


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save(path: Path, write: Callable[[str], None]) -> None:
    """``write(temporary_path)``, then rename the temporary file over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_save(path, lambda tmp: Path(tmp).write_text(text))


def read_json(path: Path) -> Dict:
    """A file's JSON object, {} if there is no file, a UserError if it is not an object."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid JSON ({reason(err)}).") from None
    if not isinstance(values, dict):
        raise UserError(f"{path} holds a JSON {type(values).__name__}, not an object.")
    return values
