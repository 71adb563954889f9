"""Fixed-length character sequences in, fixed-length character sequences out."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from ..util.errors import UserError
from . import Codec, check_batch, left_pad, register_codec


@register_codec("chars")
class CharCodec(Codec):
    """Strings over ``charset`` left-padded with ``pad`` to ``input_length``.

    Output: (N, output_length, len(charset)) scores, decoded by argmax per
    position and stripped of padding.
    """

    def __init__(self, charset: str, input_length: int, output_length: int, pad: str = " ",
                 template: str = "{input} = {output}"):
        if pad not in charset:
            raise ValueError("the padding character must be in the charset")
        self.charset = charset
        self.input_length = input_length
        self.output_length = output_length
        self.pad = pad
        self.template = template
        self.index = {ch: i for i, ch in enumerate(charset)}

    def to_meta(self) -> dict:
        return {"type": self.kind, "charset": self.charset, "input_length": self.input_length,
                "output_length": self.output_length, "pad": self.pad, "template": self.template}

    def describe(self) -> str:
        return (f"a string of at most {self.input_length} characters from {self.charset.strip()!r}")

    def check(self, text) -> str:
        if not isinstance(text, str):
            raise UserError(f"input {text!r} is not a string.")
        stripped = text.strip(self.pad)
        if not stripped:
            raise UserError("an input is empty; give at least one character.")
        if len(stripped) > self.input_length:
            raise UserError(f"input {stripped!r} has {len(stripped)} characters; "
                            f"the most this model takes is {self.input_length}.")
        bad = sorted({ch for ch in stripped if ch not in self.index})
        if bad:
            raise UserError(f"input {stripped!r} has characters outside the set "
                            f"{self.charset!r}: {''.join(bad)!r}.")
        return stripped

    def encode_strings(self, texts: Sequence[str], length: int) -> np.ndarray:
        """(N, length) int32 indices, left-padded (:func:`~gluon_seq.codecs.left_pad`)."""
        return left_pad(texts, length, self.index[self.pad], self.index.__getitem__)

    def encode(self, inputs: Sequence) -> List[np.ndarray]:
        texts = [self.check(text) for text in check_batch(inputs, "string")]
        return [self.encode_strings(texts, self.input_length)]

    def decode_indices(self, indices: np.ndarray) -> List[str]:
        return ["".join(self.charset[i] for i in row).strip(self.pad) for row in indices]

    def decode(self, outputs: List[np.ndarray]) -> list:
        return self.decode_indices(np.asarray(outputs[0]).argmax(axis=-1))  # (N, T_out)

    def format(self, given, answer) -> str:
        return self.template.format(input=given.strip(self.pad), output=answer)
