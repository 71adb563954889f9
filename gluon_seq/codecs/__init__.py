"""Codecs turn user inputs into model arrays and model outputs into answers.

A codec is entirely a JSON-able dict (``to_meta``) in an export's ``meta.json``,
which serving rebuilds with :func:`codec_from_meta` without task code.  Tasks
encode their training data with the same codec, so training and serving cannot
disagree.  Modules here register with ``@register_codec("type")``.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import numpy as np

from ..util.errors import UserError
from ..util.registry import Registry

# @register_codec("type"): the class serves meta.json codecs of that "type" (its ``kind``).
CODECS = Registry("codec type", attribute="kind", package=__name__)
register_codec = CODECS.register


def codec_from_meta(meta: dict) -> "Codec":
    return CODECS.get(meta.get("type") if isinstance(meta, dict) else None).from_meta(meta)


# run(arrays) -> outputs: runs the model on batch-first data arrays (states
# filled with zeros); run(arrays, states) -> outputs with states carried.
RunFn = Callable[..., List[np.ndarray]]


class Codec:
    """Base class.  Subclasses set ``kind`` through :func:`register_codec`."""

    kind = "base"

    def to_meta(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_meta(cls, meta: dict) -> "Codec":
        fields = {k: v for k, v in meta.items() if k != "type"}
        return cls(**fields)

    def describe(self) -> str:
        """One sentence on what an input looks like (shown by /models and --help)."""
        raise NotImplementedError

    def encode(self, inputs: Sequence) -> List[np.ndarray]:
        """User inputs to batch-first data arrays; raises UserError on bad input."""
        raise NotImplementedError

    def decode(self, outputs: List[np.ndarray]) -> list:
        """Model outputs (batch-first) to one JSON-able answer per input."""
        raise NotImplementedError

    def predict(self, run: RunFn, inputs: Sequence) -> list:
        """Answers for a batch of inputs.  Iterative codecs (generation) override this."""
        return self.decode(run(self.encode(inputs)))

    def format(self, given, answer) -> str:
        """How the CLI prints one prediction."""
        return f"{given} -> {answer}"

    def parse_cli(self, args: Sequence[str], **named) -> list:
        """CLI words to a list of inputs for :meth:`predict`."""
        return list(args)


def left_pad(rows: Sequence[Sequence], length: int, pad_id: int,
             lookup: Optional[Callable[[object], int]] = None) -> np.ndarray:
    """(N, length) int32: each row's last ``length`` items as ids (``lookup``), padded
    on the left as Keras ``pad_sequences("pre")``, so the last step is real text.
    Not gluonnlp 0.10's ``Pad``: it pads on the right only, never truncates, and
    returns an NDArray."""
    out = np.full((len(rows), length), pad_id, dtype=np.int32)
    for row, items in enumerate(rows):
        kept = items[max(len(items) - length, 0):]
        if len(kept):
            out[row, length - len(kept):] = [lookup(i) for i in kept] if lookup else kept
    return out


def check_batch(inputs: Optional[Sequence], what: str = "input") -> list:
    if inputs is None or isinstance(inputs, (str, bytes)) or not isinstance(inputs, (list, tuple)):
        raise UserError(f"inputs must be a list of {what}s.")
    if not inputs:
        raise UserError("inputs is empty; give at least one.")
    return list(inputs)
