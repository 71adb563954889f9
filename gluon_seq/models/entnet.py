"""Recurrent Entity Network (EntNet; Henaff et al., 2017) for bAbI.

Inputs are the sentence memories MemN2N reads
(:class:`gluon_seq.codecs.babi_memory.MemoryCodec`): story ids (N, M, J), the
newest sentence in the last slot and empty slots first, and question ids (N, J).
EntNet reads the story one sentence at a time into ``slots`` memory blocks, each
a key w_j and a state h_j of ``embed`` = d units::

    s_t  = sum_k f_k * E x_tk                encoder: a learned mask f per word position
    g_j  = sigmoid(s_t . h_j + s_t . w_j)    how much sentence t concerns block j
    h_j <- h_j + g_j * prelu(U h_j + V w_j + W s_t)
    h_j <- h_j / |h_j|
    q    = sum_k f'_k * E q_k                the question, its own mask f'
    p    = softmax(q . h_j)  over the blocks
    y    = R prelu(q + H sum_j p_j h_j)      (N, V) answer scores

The states start at the keys.  An empty slot (all ids 0) leaves every state as it
was, so padding on the left changes nothing (oneDNN could not skip it:
apache/mxnet#19323).  The recurrence is this model's own, with no fused kernel,
so it lives here rather than in :mod:`gluon_seq.rnn`, and the model is the same
under either kernel.  The sentences are unrolled in the graph, which exports to
a plain symbol and to ONNX.
"""
from __future__ import annotations

import mxnet as mx
from mxnet import gluon


class EntNet(gluon.HybridBlock):
    """Inputs: story ids (N, M, J), question ids (N, J); no recurrent states.
    Output: (N, V) answer scores; with ``gates_output``, also the gates (N, slots, M):
    how strongly each sentence was written into each memory block."""

    output_rows = (None, "block")  # what export's meta.json says the second output's rows are

    def __init__(self, vocab_size: int, memory_size: int, sentence_length: int, embed: int,
                 slots: int = 20, gates_output: bool = False, **kwargs):
        super().__init__(**kwargs)
        self._gates_output = gates_output
        self._vocab, self._embed, self.slots = vocab_size, embed, slots
        self._memory, self._length = memory_size, sentence_length
        normal = mx.init.Normal(0.1)  # the paper's initialisation
        with self.name_scope():
            self.embedding = self.params.get("embedding", shape=(vocab_size, embed),
                                             init=normal)
            self.story_mask = self.params.get("story_mask", shape=(sentence_length, embed),
                                              init=mx.init.One())
            self.question_mask = self.params.get("question_mask",
                                                 shape=(sentence_length, embed),
                                                 init=mx.init.One())
            self.keys = self.params.get("keys", shape=(slots, embed), init=normal)
            for name in ("U", "V", "W", "H"):
                setattr(self, name, self.params.get(name, shape=(embed, embed), init=normal))
            self.R = self.params.get("R", shape=(vocab_size, embed), init=normal)
            # PReLU slopes, one per unit, starting as the identity (the paper's init).
            self.memory_slope = self.params.get("memory_slope", shape=(embed,),
                                                init=mx.init.One())
            self.output_slope = self.params.get("output_slope", shape=(embed,),
                                                init=mx.init.One())

    def begin_state(self, batch_size: int, ctx=None):
        return []

    def _encode(self, F, ids, mask, embedding):
        """Masked bag of words: (R, J) ids -> (R, d)."""
        words = F.Embedding(ids, embedding, input_dim=self._vocab,
                            output_dim=self._embed)                       # (R, J, d)
        real = F.expand_dims(ids > 0, 2)                                  # (R, J, 1)
        return F.sum(F.broadcast_mul(F.broadcast_mul(words, real),
                                     F.expand_dims(mask, 0)), axis=1)     # (R, d)

    def _dense(self, F, x, weight):
        """x W^T over the last axis of (..., d)."""
        return F.FullyConnected(x, weight, no_bias=True, num_hidden=self._embed, flatten=False)

    def _step(self, F, h, keys, key_term, sentence, real, w, u, slope):
        """One sentence into the memory: h (N, m, d) -> (new h, gate (N, m))."""
        s = F.expand_dims(sentence, 2)                                    # (N, d, 1)
        gate = F.sigmoid(F.reshape(F.batch_dot(F.broadcast_add(h, keys), s), (0, -1)))
        gate = F.broadcast_mul(gate, real)                                # (N, m); 0 if empty
        candidate = F.broadcast_add(F.broadcast_add(self._dense(F, h, u), key_term),
                                    F.expand_dims(self._dense(F, sentence, w), 1))  # (N, m, d)
        # PReLU's slopes apply along axis 1, so the units must stand there: (N * m, d).
        candidate = F.reshape(F.LeakyReLU(F.reshape(candidate, (-1, self._embed)), slope,
                                          act_type="prelu"), (-1, self.slots, self._embed))
        moved = h + F.broadcast_mul(candidate, F.expand_dims(gate, 2))
        norm = F.sqrt(F.sum(F.square(moved), axis=2, keepdims=True) + 1e-12)   # (N, m, 1)
        moved = F.broadcast_div(moved, norm)
        # An empty sentence keeps h as it was (its gate is 0, but h is not yet normalised).
        real3 = F.expand_dims(real, 2)                                    # (N, 1, 1)
        return F.broadcast_mul(moved - h, real3) + h, gate

    def hybrid_forward(self, F, story, question, embedding, story_mask, question_mask, keys,
                       U, V, W, H, R, memory_slope, output_slope):
        real = F.sum(story, axis=2) > 0                                   # (N, M) real slots
        sentences = self._encode(F, F.reshape(story, (-1, self._length)), story_mask,
                                 embedding)                               # (N * M, d)
        sentences = F.reshape(sentences, (-1, self._memory, self._embed))  # (N, M, d)
        steps = F.split(sentences, num_outputs=self._memory, axis=1, squeeze_axis=True)
        reals = F.split(real, num_outputs=self._memory, axis=1)           # M x (N, 1)
        if self._memory == 1:
            steps, reals = [steps], [reals]
        key_term = F.expand_dims(self._dense(F, keys, V), 0)              # (1, m, d) = V w_j
        h = F.broadcast_add(F.zeros_like(F.slice_axis(sentences, axis=1, begin=0, end=1)),
                            F.expand_dims(keys, 0))                       # (N, m, d) = keys
        gates = []
        for sentence, real_t in zip(steps, reals):
            h, gate = self._step(F, h, keys, key_term, sentence, real_t, W, U, memory_slope)
            gates.append(gate)
        q = self._encode(F, question, question_mask, embedding)           # (N, d)
        p = F.softmax(F.reshape(F.batch_dot(h, F.expand_dims(q, 2)), (0, -1)), axis=1)
        read = F.reshape(F.batch_dot(F.expand_dims(p, 1), h), (0, -1))    # (N, d)
        hidden = F.LeakyReLU(q + self._dense(F, read, H), output_slope, act_type="prelu")
        scores = F.FullyConnected(hidden, R, no_bias=True, num_hidden=self._vocab)  # (N, V)
        if self._gates_output:
            return scores, F.stack(*gates, axis=2)                        # (N, m, M)
        return scores
