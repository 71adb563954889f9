"""The Keras ``babi_memnn`` memory network with an LSTM answer module.

Two embeddings of the story (``m``: E-d, ``c``: Q-d) and one of the question (E-d) give

    match    = softmax(m . q)               (N, S, Q)
    response = (match + c) permuted         (N, Q, S)
    answer   = LSTM(H)([response, q])       over the Q question positions
    scores   = Dense(vocab)(Dropout(answer))

``attention="query"`` normalises the match over the question axis (the
source's Keras behaviour), ``"story"`` over story positions.  ``read="story"``
runs the answer LSTM over the story's words instead, each word's response
next to its embedding.
"""
from __future__ import annotations

from typing import List, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..codecs.babi import BabiCodec
from ..rnn import LayerFactory


class MemNN(gluon.HybridBlock):
    """Inputs: story ids (N, S), question ids (N, Q), LSTM states (1, N, H) x2.
    Output: (N, V) logits; with ``attention_output``, also the match weights (N, S, Q)."""

    def __init__(self, vocab_size: int, story_maxlen: int, query_maxlen: int, embed: int,
                 hidden: int, dropout: float, attention: str, rnn_layer: LayerFactory,
                 read: str = "question", attention_output: bool = False, **kwargs):
        super().__init__(**kwargs)
        self._attention_output = attention_output
        self._dropout = dropout
        self._read = read
        self._softmax_axis = 2 if attention == "query" else 1  # over Q or over S
        small = mx.init.Uniform(0.05)  # Keras' Embedding default
        with self.name_scope():
            self.encoder_m = gluon.nn.Embedding(vocab_size, embed, weight_initializer=small,
                                                prefix="encoder_m_")
            self.encoder_c = gluon.nn.Embedding(vocab_size, query_maxlen,
                                                weight_initializer=small, prefix="encoder_c_")
            self.question_encoder = gluon.nn.Embedding(vocab_size, embed, weight_initializer=small,
                                                       prefix="question_encoder_")
            # Keras LSTM: orthogonal recurrent weights and a forget-gate bias of 1.
            steps, width = ((query_maxlen, story_maxlen + embed) if read == "question"
                            else (story_maxlen, query_maxlen + embed))
            self.lstm = rnn_layer(hidden, input_size=width, length=steps,
                                  h2h_weight_initializer=mx.init.Orthogonal(scale=1.0),  # Keras gain 1
                                  i2h_bias_initializer=mx.init.LSTMBias(forget_bias=1.0),
                                  prefix="lstm_")
            self.output = gluon.nn.Dense(vocab_size, in_units=hidden, prefix="output_")

    def begin_state(self, batch_size: int, ctx=None):
        return self.lstm.begin_state(batch_size, ctx)

    def _match(self, F, story, question):
        m = F.Dropout(self.encoder_m(story), p=self._dropout)          # (N, S, E)
        q = F.Dropout(self.question_encoder(question), p=self._dropout)  # (N, Q, E)
        scores = F.batch_dot(m, q, transpose_b=True)                   # (N, S, Q)
        return F.softmax(scores, axis=self._softmax_axis), m, q

    def hybrid_forward(self, F, story, question, *states):
        match, m, q = self._match(F, story, question)  # (N, S, Q), (N, S, E), (N, Q, E)
        c = F.Dropout(self.encoder_c(story), p=self._dropout)          # (N, S, Q)
        if self._read == "question":
            response = F.transpose(match + c, axes=(0, 2, 1))          # (N, Q, S)
            answer = F.concat(response, q, dim=2)                      # (N, Q, S + E)
        else:
            answer = F.concat(match + c, m, dim=2)                     # (N, S, Q + E)
        steps, _ = self.lstm(F.transpose(answer, axes=(1, 0, 2)), list(states))  # (steps, N, H)
        last = F.squeeze(F.slice_axis(steps, axis=0, begin=-1, end=None), axis=0)  # (N, H)
        scores = self.output(F.Dropout(last, p=self._dropout))        # (N, V)
        return (scores, match) if self._attention_output else scores   # match (N, S, Q)

    def attention(self, story: mx.nd.NDArray, question: mx.nd.NDArray) -> np.ndarray:
        """The match weights (N, S, Q) for id arrays, computed in inference mode."""
        with mx.autograd.predict_mode():
            match, _, _ = self._match(mx.nd, story, question)
        return match.asnumpy()


def attention_weights(model: MemNN, codec: BabiCodec, story: str, question: str
                      ) -> Tuple[np.ndarray, List[str], List[str]]:
    """((S_real, Q_real) match weights, story tokens, question tokens), padding dropped."""
    story_tokens, question_tokens = codec.check({"story": story, "question": question})
    stories, questions = codec.encode_tokens([(story_tokens, question_tokens)])
    weights = model.attention(mx.nd.array(stories), mx.nd.array(questions))[0]  # (S, Q)
    return weights[-len(story_tokens):, -len(question_tokens):], story_tokens, question_tokens
