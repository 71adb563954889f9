"""The twitch series' fused-RNN encoder-decoder.

    chars (N, T_in) -> one-hot -> encoder LSTM -> final top-layer h (1, N, H)
    -> broadcast to every output step (T_out, N, H) -> decoder LSTM -> Dense (N, T_out, V)
"""
from __future__ import annotations

from mxnet import gluon

from ..rnn import LayerFactory, zero_states


class Seq2Seq(gluon.HybridBlock):
    """Encoder LSTM -> final state broadcast over the output steps -> decoder LSTM -> Dense."""

    def __init__(self, charset_size: int, hidden: int, input_length: int, output_length: int,
                 rnn_layer: LayerFactory, **kwargs):
        super().__init__(**kwargs)
        self._charset_size = charset_size
        self._output_length = output_length
        with self.name_scope():
            self.encoder = rnn_layer(hidden, input_size=charset_size, length=input_length,
                                     prefix="encoder_")
            self.decoder = rnn_layer(hidden, input_size=hidden, length=output_length,
                                     prefix="decoder_")
            self.output = gluon.nn.Dense(charset_size, flatten=False, in_units=hidden,
                                         prefix="output_")

    def begin_state(self, batch_size: int, ctx=None):
        return zero_states([self.encoder, self.decoder], batch_size, ctx)

    def hybrid_forward(self, F, chars, *states):
        # chars: (N, T_in) character indices; states: the encoder's, then the decoder's
        encoder_states = list(states[:self.encoder.state_count])
        decoder_states = list(states[self.encoder.state_count:])
        onehot = F.one_hot(F.transpose(chars), depth=self._charset_size)  # (T_in, N, V)
        _, final = self.encoder(onehot, encoder_states)                  # h first: (L, N, H)
        summary = F.slice_axis(final[0], axis=0, begin=-1, end=None)      # (1, N, H): top layer
        repeated = F.broadcast_axis(summary, axis=0, size=self._output_length)  # (T_out, N, H)
        decoded, _ = self.decoder(repeated, decoder_states)              # (T_out, N, H)
        logits = self.output(decoded)                                     # (T_out, N, V)
        return F.transpose(logits, axes=(1, 0, 2))                        # (N, T_out, V)
