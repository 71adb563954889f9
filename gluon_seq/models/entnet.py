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

The states start at the keys scaled to unit length, where every step leaves them.
An empty slot (all ids 0) leaves every state as it was, so padding on the left changes
nothing (oneDNN could not skip it:
apache/mxnet#19323).  The recurrence is this model's own, with no fused kernel,
so it lives here rather than in :mod:`gluon_seq.rnn`, and the model is the same
under either kernel.  The sentences are unrolled in the graph, which exports to
a plain symbol and to ONNX.

Training skips the steps no story of a batch uses (``skip_empty``): a batch whose
longest story has k sentences runs a graph of k steps (rounded up to a multiple of
``STEP_ROUND``), with the same parameters.  The empty steps it leaves out change
nothing, so the scores and gradients are the full graph's; a batch of QA2's
10k stories averages 36 of its 68 slots.
"""
from __future__ import annotations

from typing import Dict

import mxnet as mx
import numpy as np
from mxnet import gluon

# One object each, so that a shorter view's parameters match the full model's on lookup.
NORMAL = mx.init.Normal(0.1)  # the paper's initialisation
ONE = mx.init.One()
STEP_ROUND = 8  # a view's steps are a multiple of this: few graphs to build


def story_lengths(stories: np.ndarray) -> np.ndarray:
    """(N, M, J) story ids, padded on the left -> (N,) the slots from each story's first
    filled one to the last: the steps it needs; 0 for an empty story."""
    used = stories.any(axis=2)                                            # (N, M) filled
    return np.where(used.any(axis=1), used.shape[1] - used.argmax(axis=1), 0)


class _Views:
    """An EntNet's shorter graphs by their steps.  Not its children: their parameters are
    its own, and a child would save them a second time."""

    def __init__(self):
        self.by_steps: Dict[int, "EntNet"] = {}


class EntNet(gluon.HybridBlock):
    """Inputs: story ids (N, M, J), question ids (N, J); no recurrent states.
    Output: (N, V) answer scores; with ``gates_output``, also the gates (N, slots, M):
    how strongly each sentence was written into each memory block.  With ``skip_empty``,
    a call on NDArrays runs only the steps its stories use (see the module docstring);
    an export needs it off, since the full graph is traced only by a full call."""

    output_rows = (None, "block")  # what export's meta.json says the second output's rows are

    def __init__(self, vocab_size: int, memory_size: int, sentence_length: int, embed: int,
                 slots: int = 20, gates_output: bool = False, skip_empty: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self._gates_output, self._skip_empty = gates_output, skip_empty
        self._views = _Views()
        self._hybridize_args = None
        self._vocab, self._embed, self.slots = vocab_size, embed, slots
        self._memory, self._length = memory_size, sentence_length
        with self.name_scope():
            self.embedding = self.params.get("embedding", shape=(vocab_size, embed),
                                             init=NORMAL)
            self.story_mask = self.params.get("story_mask", shape=(sentence_length, embed),
                                              init=ONE)
            self.question_mask = self.params.get("question_mask",
                                                 shape=(sentence_length, embed),
                                                 init=ONE)
            self.keys = self.params.get("keys", shape=(slots, embed), init=NORMAL)
            for name in ("U", "V", "W", "H"):
                setattr(self, name, self.params.get(name, shape=(embed, embed), init=NORMAL))
            self.R = self.params.get("R", shape=(vocab_size, embed), init=NORMAL)
            # PReLU slopes, one per unit, starting as the identity (the paper's init).
            self.memory_slope = self.params.get("memory_slope", shape=(embed,),
                                                init=ONE)
            self.output_slope = self.params.get("output_slope", shape=(embed,),
                                                init=ONE)

    def begin_state(self, batch_size: int, ctx=None):
        return []

    # -- skipping the slots no story uses ------------------------------------------
    def hybridize(self, active=True, **kwargs):
        super().hybridize(active, **kwargs)
        self._hybridize_args = (active, kwargs)
        for view in self._views.by_steps.values():
            view.hybridize(active, **kwargs)

    def forward(self, story, *args):
        if not (self._skip_empty and isinstance(story, mx.nd.NDArray)):
            return super().forward(story, *args)
        longest = max(int(story_lengths(story.asnumpy()).max()), 1)
        steps = min(self._memory, -(-longest // STEP_ROUND) * STEP_ROUND)
        if steps == self._memory:
            return super().forward(story, *args)
        out = self._view(steps)(story[:, self._memory - steps:], *args)  # (N, steps, J) in
        if not self._gates_output:
            return out
        scores, gates = out                                               # gates (N, m, steps)
        skipped = mx.nd.zeros(gates.shape[:2] + (self._memory - steps,), ctx=gates.context,
                              dtype=gates.dtype)  # an empty slot's gate is 0
        return scores, mx.nd.concat(skipped, gates, dim=2)

    def _view(self, steps: int) -> "EntNet":
        """This model over the latest ``steps`` slots, sharing its parameters; made once."""
        views = self._views.by_steps
        if steps not in views:
            view = EntNet(self._vocab, steps, self._length, self._embed, self.slots,
                          gates_output=self._gates_output, prefix=self.prefix,
                          params=self.params)
            if self._hybridize_args is not None:
                view.hybridize(self._hybridize_args[0], **self._hybridize_args[1])
            views[steps] = view
        return views[steps]

    def _encode(self, F, ids, mask, embedding):
        """Masked bag of words: (R, J) ids -> (R, d), sum_k f_k * E x_k with the nil word's
        embedding 0.  One lookup in a table per word position, (J, V, d) = f_k * E: small,
        where weighting the (R, J, d) words would make the backward reduce over every row."""
        vocab, length = self._vocab, self._length
        keep = F.reshape(1 - F.one_hot(F.zeros((1,)), vocab), (vocab, 1))  # 0 for the nil word
        table = F.broadcast_mul(F.expand_dims(F.broadcast_mul(embedding, keep), 0),
                                F.expand_dims(mask, 1))                   # (J, V, d)
        offsets = F.reshape(F.arange(0, length) * vocab, (length, 1))    # word k reads table k
        words = F.Embedding(F.broadcast_add(F.transpose(ids), offsets),
                            F.reshape(table, (-1, self._embed)), input_dim=length * vocab,
                            output_dim=self._embed)                       # (J, R, d)
        if length == 1:
            return F.reshape(words, (-1, self._embed))
        # J slices added: MXNet's sum over an axis is a slow reduction, forward and backward.
        return F.add_n(*F.split(words, num_outputs=length, axis=0, squeeze_axis=True))  # (R, d)

    def _dense(self, F, x, weight):
        """x W^T over the last axis of (..., d)."""
        return F.FullyConnected(x, weight, no_bias=True, num_hidden=self._embed, flatten=False)

    # MXNet's CPU backward of a broadcasting operator (and of prelu's slope, an axis sum,
    # L2Normalization) is a slow reduction, once per operator and step.  So the model spreads
    # and sums with products with ones instead, whose backward is a GEMM.
    def _spread(self, F, column):
        """(R, 1) -> (R, d): each row's value in all d columns."""
        return F.FullyConnected(column, F.ones((self._embed, 1)), no_bias=True,
                                num_hidden=self._embed)

    def _unit(self, F, x):
        """Each row of (R, d) scaled to unit length, x / sqrt(|x|^2 + 1e-10) as
        L2Normalization computes it."""
        squares = F.FullyConnected(F.square(x), F.ones((1, self._embed)), no_bias=True,
                                   num_hidden=1)                          # (R, 1)
        return x / self._spread(F, F.sqrt(squares + 1e-10))

    def _prelu(self, F, x, slopes):
        """PReLU of (R, d) with ``slopes`` = diag(a) (d, d): relu(x) - relu(-x) diag(a).  The
        slope's gradient is then a GEMM; LeakyReLU's prelu reduces over the rows, slowly."""
        return F.relu(x) - self._dense(F, F.relu(-x), slopes)

    def _diagonal(self, F, slope):
        """diag(slope): (d,) -> (d, d), from operators ONNX has."""
        return F.broadcast_mul(F.one_hot(F.arange(0, self._embed), self._embed),
                               F.reshape(slope, (1, -1)))

    def _step(self, F, h, keys, fixed, sentence, real, u, slopes):
        """One sentence into the memory: h (N * m, d) -> (new h, gate (N, m)).  ``fixed``
        (N * m, d) is V w_j + W s_t, the candidate's terms that do not depend on h."""
        s = F.expand_dims(sentence, 2)                                    # (N, d, 1)
        logits = F.reshape(F.batch_dot(F.reshape(h, (-1, self.slots, self._embed)), s),
                           (0, -1)) + F.FullyConnected(sentence, keys, no_bias=True,
                                                       num_hidden=self.slots)   # (N, m)
        gate = F.broadcast_mul(F.sigmoid(logits), real)                   # (N, m); 0 if empty
        candidate = self._prelu(F, self._dense(F, h, u) + fixed, slopes)
        moved = h + candidate * self._spread(F, F.reshape(gate, (-1, 1)))  # (N * m, d)
        # An empty sentence (gate 0) leaves h as it was: h is already of unit length.
        return self._unit(F, moved), gate

    def _fixed_terms(self, F, sentences, keys, V, W):
        """V w_j + W s_t for every step t and block j: M x (N, m, d), from the sentences
        (N * M, d); each term spread by a product with ones."""
        m, d = self.slots, self._embed
        ones = F.broadcast_axis(F.ones_like(F.reshape(F.slice_axis(
            sentences, axis=1, begin=0, end=1), (-1, 1, 1))), axis=1, size=m)  # (N * M, m, 1)
        written = F.batch_dot(ones, F.expand_dims(self._dense(F, sentences, W), 1))
        blocks = F.dot(F.reshape(F.slice_axis(ones, axis=1, begin=0, end=1), (-1, 1)),
                       F.reshape(self._dense(F, keys, V), (1, -1)))         # (N * M, m * d)
        fixed = F.reshape(F.reshape(written, (-1, m * d)) + blocks, (-1, self._memory, m, d))
        fixed = F.split(fixed, num_outputs=self._memory, axis=1, squeeze_axis=True)
        return [fixed] if self._memory == 1 else fixed

    def hybrid_forward(self, F, story, question, embedding, story_mask, question_mask, keys,
                       U, V, W, H, R, memory_slope, output_slope):
        m, d = self.slots, self._embed
        real = F.sum(story, axis=2) > 0                                   # (N, M) real slots
        sentences = self._encode(F, F.reshape(story, (-1, self._length)), story_mask,
                                 embedding)                               # (N * M, d)
        fixed = self._fixed_terms(F, sentences, keys, V, W)              # M x (N, m, d)
        steps = F.split(F.reshape(sentences, (-1, self._memory, d)), num_outputs=self._memory,
                        axis=1, squeeze_axis=True)                        # M x (N, d)
        reals = F.split(real, num_outputs=self._memory, axis=1)           # M x (N, 1)
        if self._memory == 1:
            steps, reals = [steps], [reals]
        # The states start at the keys, of unit length: (N * m, d).
        ones = F.ones_like(F.slice_axis(question, axis=1, begin=0, end=1))  # (N, 1)
        h = F.reshape(F.dot(ones, F.reshape(self._unit(F, keys), (1, -1))), (-1, d))
        gates, slopes = [], self._diagonal(F, memory_slope)
        for sentence, real_t, fixed_t in zip(steps, reals, fixed):
            h, gate = self._step(F, h, keys, F.reshape(fixed_t, (-1, d)), sentence, real_t, U,
                                 slopes)
            gates.append(gate)
        h = F.reshape(h, (-1, m, d))                                      # (N, m, d)
        q = self._encode(F, question, question_mask, embedding)           # (N, d)
        p = F.softmax(F.reshape(F.batch_dot(h, F.expand_dims(q, 2)), (0, -1)), axis=1)
        read = F.reshape(F.batch_dot(F.expand_dims(p, 1), h), (0, -1))    # (N, d)
        hidden = self._prelu(F, q + self._dense(F, read, H), self._diagonal(F, output_slope))
        scores = F.FullyConnected(hidden, R, no_bias=True, num_hidden=self._vocab)  # (N, V)
        if self._gates_output:
            return scores, F.stack(*gates, axis=2)                        # (N, m, M)
        return scores
