"""The PTB word language model: Embedding -> LSTM x L -> Dropout -> Dense at every step.

The hidden state comes in and goes out, so a caller can carry it from one
window of text to the next (training) or from a prompt to each generated word.
"""
from __future__ import annotations

import mxnet as mx
from mxnet import gluon

from ..rnn import LayerFactory


class WordLM(gluon.HybridBlock):
    """Inputs: word ids (N, T), the recurrent layer's states (h0, c0 for an LSTM), each (L, N, H).
    Outputs: next-word logits (N, T, V), then the final states.  ``opts``: the PTB task's."""

    def __init__(self, vocab_size: int, opts, rnn_layer: LayerFactory, **kwargs):
        super().__init__(**kwargs)
        self._dropout = opts.dropout
        self._input_dropout = opts.input_dropout
        # Without --init-scale, Keras' defaults (the source's): uniform(0.05)
        # embeddings, orthogonal recurrent weights, forget-gate bias 1, Xavier elsewhere.
        keras = opts.init_scale <= 0
        with self.name_scope():
            self.embedding = gluon.nn.Embedding(
                vocab_size, opts.embed, prefix="embedding_",
                weight_initializer=mx.init.Uniform(0.05) if keras else None)
            self.lstm = rnn_layer(opts.hidden, num_layers=opts.num_layers,
                                  dropout=opts.layer_dropout, input_size=opts.embed,
                                  length=opts.num_steps, prefix="lstm_",
                                  h2h_weight_initializer=mx.init.Orthogonal() if keras else None,
                                  i2h_bias_initializer=mx.init.LSTMBias(1.0) if keras else "zeros")
            self.output = gluon.nn.Dense(vocab_size, flatten=False, in_units=opts.hidden,
                                         prefix="output_")

    def begin_state(self, batch_size: int, ctx=None):
        return self.lstm.begin_state(batch_size, ctx)

    def hybrid_forward(self, F, tokens, *states):
        # Time-major through the LSTM: transposing the (N, T) ids is cheaper
        # than transposing (N, T, E) embeddings.
        embedded = self.embedding(F.transpose(tokens))           # (T, N, E)
        if self._input_dropout:
            embedded = F.Dropout(embedded, p=self._input_dropout)
        steps, final = self.lstm(embedded, list(states))          # (T, N, H), states (L, N, H)
        steps = F.transpose(steps, axes=(1, 0, 2))                # (N, T, H)
        if self._dropout:
            steps = F.Dropout(steps, p=self._dropout)
        return (self.output(steps), *final)                       # (N, T, V), states
