"""A fixed-length string of symbols in, one class label out.

Serves the alphabet task (``"ABC"`` -> ``"D"``) and count-ones
(``"01101..."`` -> ``"11"``): the model reads symbol indices (N, length) and
returns (N, classes) scores; the answer is the best label.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from ..util.errors import UserError
from . import Codec, check_batch, register_codec


@register_codec("symbols")
class SymbolCodec(Codec):
    """``symbols``: the allowed characters, index = position.  ``labels``: one
    answer string per output class.  ``fold_case`` upper-cases inputs first."""

    def __init__(self, symbols: str, length: int, labels: Sequence[str],
                 fold_case: bool = False, template: str = "{input} -> {output}"):
        self.symbols = symbols
        self.length = int(length)
        self.labels = list(labels)
        self.fold_case = bool(fold_case)
        self.template = template
        self.index = {ch: i for i, ch in enumerate(symbols)}

    def to_meta(self) -> dict:
        return {"type": self.kind, "symbols": self.symbols, "length": self.length,
                "labels": self.labels, "fold_case": self.fold_case, "template": self.template}

    def describe(self) -> str:
        return f"a string of exactly {self.length} characters from {self.symbols!r}"

    def check(self, text) -> str:
        if not isinstance(text, str):
            raise UserError(f"input {text!r} is not a string.")
        text = text.strip()
        if self.fold_case:
            text = text.upper()
        if not text:
            raise UserError("an input is empty; give "
                            f"{self.length} character{'s' if self.length > 1 else ''}.")
        bad = sorted({ch for ch in text if ch not in self.index})
        if bad:
            raise UserError(f"input {text!r} has characters outside {self.symbols!r}: "
                            f"{''.join(bad)!r}.")
        if len(text) != self.length:
            raise UserError(f"input {text!r} has {len(text)} characters; this model takes "
                            f"exactly {self.length}.")
        return text

    def encode_strings(self, texts: Sequence[str]) -> np.ndarray:
        """(N, length) int32 symbol indices of already checked strings."""
        return np.array([[self.index[ch] for ch in text] for text in texts],
                        dtype=np.int32).reshape(len(texts), self.length)

    def encode(self, inputs: Sequence) -> List[np.ndarray]:
        texts = [self.check(text) for text in check_batch(inputs, "string")]
        return [self.encode_strings(texts)]

    def decode(self, outputs: List[np.ndarray]) -> list:
        best = np.asarray(outputs[0]).argmax(axis=-1)  # (N,)
        return [self.labels[i] for i in best]

    def format(self, given, answer) -> str:
        shown = given.strip().upper() if self.fold_case else given.strip()
        return self.template.format(input=shown, output=answer)
