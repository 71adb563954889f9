"""The one place that reads run folders written by older gluon_seq versions.

:func:`upgrade_config` turns every older ``config.json`` into today's layout,
:func:`upgrade_progress` every older ``progress.json``;
:func:`codec_file` and :func:`upgrade_codec` find and read a saved codec under
older names and layouts.  Old folders are read, never rewritten (a resumed run
saves today's format); ``tests/fixtures/runs_448da8f`` holds the oldest.
Format 1 has no ``format_version`` and its ``rnn_backend`` is the request until
training starts, then the kernel used; in format 2 ``kernel`` is the kernel used.
Format 3 changed a default: MemN2N's linear start, 20 epochs before, 40 since.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

from ..util.errors import UserError

CONFIG_FORMAT = 3
CODEC_FILE = "codec.json"
# Before codec.json, a task kept its data-built codec under its own file name.
_OLDER_CODEC_FILES = {"ptb": "ptb_vocab.json", "babi": "babi_vocab.json",
                      "sentiment": "sentiment_vocab.json"}


def upgrade_config(values: Dict) -> Dict:
    """``config.json``'s values, of any format, in today's layout (a new dict)."""
    values = dict(values)
    version = values.pop("format_version", 1)
    if version == 1:
        asked = values.get("rnn_backend", "auto")
        # The kernel used, where training had recorded it in place of the request; where
        # it had not, auto's rule on the CPU (weights do not depend on the kernel).
        values["kernel"] = asked if asked in ("fused", "unfused") else "unfused"
        version = 2
    if version == 2:
        options = values.get("options")
        if (values.get("task") == "babi" and isinstance(options, dict)
                and options.get("model") == "memn2n" and "linear_start" not in options):
            values["options"] = dict(options, linear_start=20)  # the default it trained with
        version = 3
    if version != CONFIG_FORMAT:
        raise UserError(f"format_version {version!r} is not one this gluon_seq reads (1 to "
                        f"{CONFIG_FORMAT}); it was written by a newer version: upgrade gluon_seq.")
    return values


def upgrade_progress(values: Dict) -> Dict:
    """``progress.json``'s values in today's layout (a new dict).  Before validation losses
    were kept, it had no ``best_loss``: None, which ranks first among ties
    (:func:`gluon_seq.tasks.metrics.validation_rank`), so a resumed run keeps its choice."""
    return {"best_loss": None, **values}


def codec_file(folder: Path, task: str) -> Path:
    """``codec.json``, or the file an older run folder keeps ``task``'s codec in."""
    current = Path(folder) / CODEC_FILE
    older = Path(folder) / _OLDER_CODEC_FILES.get(task, CODEC_FILE)
    return older if not current.is_file() and older.is_file() else current


def upgrade_codec(saved) -> Dict:
    """A saved codec of any layout as today's dict (PTB's oldest was a bare word list)."""
    return {"type": "words", "vocab": saved} if isinstance(saved, list) else saved
