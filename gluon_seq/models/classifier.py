"""One sequence classifier for the alphabet, count-ones, sentiment and
web-traffic tasks: they differ only in how ids become LSTM inputs.

    ids (N, T) -> inputs (T, N, C) -> LSTM -> last step (N, H) -> Dropout -> Dense (N, K)

``pooling="max"`` takes each unit's maximum over the non-padding steps instead
(needed by a ``bidirectional`` LSTM, whose units are then 2H).  The LSTM starts
from Keras' initialisation, since every source is a Keras or TensorFlow tutorial.
"""
from __future__ import annotations

from typing import Dict

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..rnn import LayerFactory
from ..rnn.gates import trace

INPUT_MODES = ("embed", "scaled", "onehot")


class SequenceClassifier(gluon.HybridBlock):
    """``classes`` output scores.  ``inputs``: ``"embed"`` (Embedding(vocab_size, embed)),
    ``"scaled"`` (one number per step, ``id / scale``: the alphabet's
    ``letter_index / 26``, count-ones' bit) or ``"onehot"`` (vocab_size per step)."""

    def __init__(self, classes: int, hidden: int, length: int, rnn_layer: LayerFactory,
                 inputs: str = "embed", vocab_size: int = 0, embed: int = 0, scale: float = 1.0,
                 dropout: float = 0.0, pooling: str = "last", pad_id: int = 0,
                 embed_dropout: float = 0.0, word_dropout: float = 0.0,
                 bidirectional: bool = False, **kwargs):
        super().__init__(**kwargs)
        if inputs not in INPUT_MODES:
            raise ValueError(f"inputs must be one of {INPUT_MODES}, not {inputs!r}")
        self._inputs = inputs
        self._vocab_size = vocab_size
        self._scale = float(scale)
        self._dropout = dropout
        if pooling not in ("last", "max"):
            raise ValueError(f"pooling must be 'last' or 'max', not {pooling!r}")
        self._pooling = pooling
        if bidirectional and pooling != "max":
            # The reverse direction's last step has read only the last token.
            raise ValueError("a bidirectional LSTM needs pooling='max'")
        self._bidirectional = bidirectional
        self._embed_dropout = embed_dropout
        self._word_dropout = word_dropout
        self._pad_id = pad_id
        width = {"embed": embed, "scaled": 1, "onehot": vocab_size}[inputs]
        with self.name_scope():
            if inputs == "embed":
                self.embedding = gluon.nn.Embedding(vocab_size, embed,
                                                    weight_initializer=mx.init.Uniform(0.05),
                                                    prefix="embedding_")
            self.lstm = rnn_layer(hidden, input_size=width, length=length,
                                  h2h_weight_initializer=mx.init.Orthogonal(),
                                  i2h_bias_initializer=mx.init.LSTMBias(forget_bias=1.0),
                                  bidirectional=bidirectional, prefix="lstm_")
            self.output = gluon.nn.Dense(classes, in_units=self.lstm.output_size,
                                         prefix="output_")

    def begin_state(self, batch_size: int, ctx=None):
        return self.lstm.begin_state(batch_size, ctx)

    def _features(self, F, ids):
        steps_first = F.transpose(ids)                                   # (T, N)
        if self._inputs == "embed":
            embedded = self.embedding(steps_first)                       # (T, N, E)
            if self._embed_dropout:  # whole embedding channels, the same at every step
                embedded = F.Dropout(embedded, p=self._embed_dropout, axes=(0,))
            if self._word_dropout:  # whole tokens, every channel of the word at once
                embedded = F.Dropout(embedded, p=self._word_dropout, axes=(2,))
            return embedded
        if self._inputs == "onehot":
            return F.one_hot(steps_first, depth=self._vocab_size)        # (T, N, V)
        return F.expand_dims(steps_first / self._scale, axis=2)          # (T, N, 1)

    def lstm_inputs(self, ids) -> np.ndarray:
        """What the LSTM reads for ``ids`` (N, T): (T, N, C) numpy, for :func:`gluon_seq.rnn.gates.trace`."""
        return self._features(mx.nd, mx.nd.array(ids)).asnumpy()

    def trace_gates(self, ids) -> Dict[str, np.ndarray]:
        """The recurrent layer's gates and states at every step for ``ids`` (N, T), from
        zero states: ``{"input_gate": (T, N, H), ..., "cell": ..., "hidden": ...}`` (the
        names of :data:`gluon_seq.rnn.gates.RECORDED` for the model's cell)."""
        if self._bidirectional:
            raise ValueError("trace_gates reads one direction; trace a model that is not "
                             "bidirectional.")
        return trace(self.lstm, self.lstm_inputs(ids))

    def hybrid_forward(self, F, ids, *states):
        inputs = self._features(F, ids)                                   # (T, N, C)
        outputs, _ = self.lstm(inputs, list(states))                      # (T, N, H)
        if self._pooling == "max":
            real = F.expand_dims(F.transpose(ids) != self._pad_id, axis=2)  # (T, N, 1)
            last = F.max(F.broadcast_add(outputs, (real - 1) * 1e4), axis=0)  # (N, H or 2H)
        else:
            # squeeze, not reshape(-3, ...): ONNX export has no -3 shape code
            last = F.squeeze(F.slice_axis(outputs, axis=0, begin=-1, end=None), axis=0)  # (N, H)
        if self._dropout:
            last = F.Dropout(last, p=self._dropout)
        return self.output(last)                                          # (N, K)
