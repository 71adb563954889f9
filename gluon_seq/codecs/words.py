"""A prompt in, its continuation out: generation from a word language model.

The model reads the whole prompt once (batch 1, zero begin states), then one
word at a time from its own final states, never re-reading the prompt.  Prompts
are read as PTB was written: lower case, numbers as ``N``, unknown words
``<unk>`` (the answer lists them).
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..util import settings
from ..util.errors import UserError
from . import Codec, check_batch, left_pad, register_codec

EOS, UNK = "<eos>", "<unk>"
DEFAULT_WORDS = 10
MAX_WORDS = 1000
# Prompt words plus words to generate, summed over one request's inputs: bounds the
# model runs (one per generated word) and the logits (prompt length x vocabulary) it costs.
MAX_REQUEST_WORDS = 2000
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.001, 100  # below 0.001 logits/T can overflow to NaN
# What each field of a request allows (a seed is any seed a run takes).
FIELDS = {"words": (DEFAULT_WORDS, settings.whole(1, MAX_WORDS)),
          "temperature": (0.0, settings.Check(
              f"0 (greedy) or a finite number from {MIN_TEMPERATURE} to {MAX_TEMPERATURE}",
              lambda v: v == 0 or settings.number(MIN_TEMPERATURE, MAX_TEMPERATURE).test(v))),
          "seed": (0, settings.seed())}
_NUMBER = re.compile(r"[+-]?\d[\d,.:/]*")


def normalize(text: str) -> List[str]:
    """``"The 3 Companies"`` -> ``['the', 'N', 'companies']`` (PTB's preprocessing)."""
    return ["N" if _NUMBER.fullmatch(word) else word.lower() for word in text.split()]


def sample(logits: np.ndarray, temperature: float, rng: np.random.RandomState) -> int:
    """Argmax of (V,) ``logits`` at ``temperature`` 0, else a draw from softmax(logits / T)."""
    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    probs = np.exp(scaled - scaled.max())
    return int(rng.choice(len(probs), p=probs / probs.sum()))


@register_codec("words")
class WordCodec(Codec):
    """``vocab``: the words by id, ``<eos>`` and ``<unk>`` among them.  Inputs: prompt
    strings, or ``{"prompt": str, "words": int, "temperature": float, "seed": int}``.
    The model maps (N, T) ids and states to ``[logits (N, T, V), h, c]``."""

    def __init__(self, vocab: Sequence[str]):
        self.vocab = list(vocab)
        self.index: Dict[str, int] = {word: i for i, word in enumerate(self.vocab)}
        missing = [w for w in (EOS, UNK) if w not in self.index]
        if missing:
            raise ValueError(f"the vocabulary lacks {', '.join(missing)}")
        self.eos_id, self.unk_id = self.index[EOS], self.index[UNK]

    def to_meta(self) -> dict:
        return {"type": self.kind, "vocab": self.vocab}

    def describe(self) -> str:
        return (f"an English prompt (lower-cased, numbers read as N, words outside the "
                f"{len(self.vocab)}-word vocabulary as {UNK}); the answer continues it by "
                f"'words' words (default {DEFAULT_WORDS}), greedily or sampled at 'temperature'")

    # -- requests -----------------------------------------------------------------
    def request(self, item) -> dict:
        """A checked request: prompt tokens, words, temperature, seed."""
        if isinstance(item, str):
            item = {"prompt": item}
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
            raise UserError(f"input {item!r} is neither a prompt string nor a dict with a "
                            "'prompt' string.")
        unknown_keys = sorted(set(item) - {"prompt", *FIELDS})
        if unknown_keys:
            raise UserError(f"input has unknown field(s) {', '.join(unknown_keys)}; "
                            "use prompt, words, temperature, seed.")
        tokens = normalize(item["prompt"])
        if not tokens:
            raise UserError("a prompt is empty; give at least one word to continue.")
        checked = {"tokens": tokens}
        for key, (default, check) in FIELDS.items():
            value = item.get(key, default)
            if not check.test(value):
                raise UserError(f"{key} must be {check.allowed}, not {value!r}.")
            checked[key] = value
        checked["temperature"] = float(checked["temperature"])
        return checked

    def requests(self, inputs: Sequence) -> List[dict]:
        """Every input of one request checked, their words within MAX_REQUEST_WORDS."""
        checked = [self.request(item) for item in check_batch(inputs, "prompt")]
        total = sum(len(r["tokens"]) + r["words"] for r in checked)
        if total > MAX_REQUEST_WORDS:
            raise UserError(f"the request holds {total} words (prompt words plus words to "
                            f"generate, over all its inputs) and the most is {MAX_REQUEST_WORDS}; "
                            "split it.")
        return checked

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """(T,) int32 ids, ``<unk>`` for words outside the vocabulary."""
        return np.array([self.index.get(t, self.unk_id) for t in tokens], dtype=np.int32)

    # -- batch encode / decode: one next word per prompt ------------------------------
    def encode(self, inputs: Sequence) -> List[np.ndarray]:
        """(N, T) ids, shorter prompts left-padded with ``<eos>``, as a fresh sentence starts."""
        token_lists = [self.request(item)["tokens"] for item in check_batch(inputs, "prompt")]
        length = max(len(tokens) for tokens in token_lists)
        return [left_pad([self.ids(tokens) for tokens in token_lists], length, self.eos_id)]

    def decode(self, outputs: List[np.ndarray]) -> list:
        """The most likely next word after each prompt.  outputs[0]: (N, T, V) logits."""
        return [self.vocab[i] for i in np.asarray(outputs[0])[:, -1].argmax(axis=-1)]

    # -- generation -------------------------------------------------------------------
    def predict(self, run, inputs: Sequence) -> list:
        return [self.generate(run, request) for request in self.requests(inputs)]

    def generate(self, run, request: dict) -> dict:
        tokens = request["tokens"]
        rng = np.random.RandomState(request["seed"])
        logits, *states = run([self.ids(tokens)[None, :]])  # (1, T, V), states
        generated: List[str] = []
        while True:
            word = sample(np.asarray(logits)[0, -1], request["temperature"], rng)
            generated.append(self.vocab[word])
            if len(generated) == request["words"]:
                break
            logits, *states = run([np.array([[word]], dtype=np.int32)], states)  # (1, 1, V)
        unknown = [t for t in tokens if t not in self.index]
        return {"prompt": " ".join(t if t in self.index else UNK for t in tokens),
                "text": " ".join(generated), "unknown": unknown}

    def format(self, given, answer) -> str:
        note = f"  (unknown, read as {UNK}: {', '.join(answer['unknown'])})" \
            if answer.get("unknown") else ""
        return f"{answer['prompt']} → {answer['text']}{note}"

    def parse_cli(self, args: Sequence[str], words: Optional[int] = None,
                  temperature: Optional[float] = None, **named) -> list:
        """One request per prompt argument, with ``--words`` / ``--temperature`` applied."""
        extra = {k: v for k, v in (("words", words), ("temperature", temperature))
                 if v is not None}
        return [dict(prompt=arg, **extra) for arg in args]
