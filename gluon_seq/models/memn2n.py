"""End-to-end memory network (MemN2N; Sukhbaatar et al., 2015) for bAbI.

Inputs are sentence-level memories (:class:`gluon_seq.codecs.babi_memory.MemoryCodec`):
story ids (N, M, J), newest sentence in the last slot, and question ids (N, J).
With K hops and K + 1 embedding matrices E_0..E_K (adjacent weight tying:
A_1 = B = E_0, C_k = A_{k+1} = E_k, W^T = C_K = E_K) and temporal matrices
T_0..T_K (T_A^{k+1} = T_C^k)::

    u_1      = sum_j l_j * B q_j                        position encoding (PE)
    m_i^k    = sum_j l_j * A_k x_ij + T_A^k(i)           c_i^k likewise with C_k, T_C^k
    p^k      = softmax(m^k . u_k)  over the story's memory slots
    u_{k+1}  = u_k + sum_i p_i^k c_i^k
    scores   = W u_{K+1}                                 (N, V) logits

PE is the reference code's l_kj = 1 + 4 (k - (d+1)/2)(j - (J+1)/2) / (d J),
with J the fixed sentence width (the paper's l_kj = (1 - j/J) - (k/d)(1 - 2j/J),
with J each sentence's own length, learned basic induction, QA16, far worse).
Padding words count for nothing.  Empty memory slots are zero memories that
still take part in the softmax (at logit 0), as in the reference code: a
"nothing matches" choice that the yes/no tasks (QA6, QA18) need.  Linear start
removes the softmax in the graph itself: ``p = mix * softmax(s) + (1 - mix) * s``
with ``mix`` a non-trainable 0/1 parameter (:meth:`MemN2N.use_softmax`).
No recurrent layer, so the model is the same under either kernel.
"""
from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet import gluon



def position_encoding(length: int, embed: int) -> np.ndarray:
    """(J, d) weights l_kj for sentences ``length`` = J words wide."""
    j = np.arange(1, length + 1, dtype=np.float64)[:, None]              # (J, 1)
    k = np.arange(1, embed + 1, dtype=np.float64)[None, :]               # (1, d)
    return 1 + 4 * (k - (embed + 1) / 2) * (j - (length + 1) / 2) / (embed * length)


class MemN2N(gluon.HybridBlock):
    """Inputs: story ids (N, M, J), question ids (N, J); no recurrent states.
    Output: (N, V) answer scores; with ``attention_output``, also the attention (N, K, M)."""

    def __init__(self, vocab_size: int, memory_size: int, sentence_length: int, embed: int,
                 hops: int = 3, attention_output: bool = False, **kwargs):
        super().__init__(**kwargs)
        self._attention_output = attention_output
        self._vocab, self._embed, self.hops = vocab_size, embed, hops
        self._memory, self._length = memory_size, sentence_length
        normal = mx.init.Normal(0.1)  # the reference code's init_std
        # l_kj = a_k + j b_k, linear in the position j: the rows of pe are a and b.
        pe = position_encoding(sentence_length, embed)                    # (J, d)
        a, b = pe[0] - (pe[1] - pe[0]), pe[1] - pe[0]
        with self.name_scope():
            for index in range(hops + 1):
                setattr(self, f"embedding{index}", self.params.get(
                    f"embedding{index}", shape=(vocab_size, embed), init=normal))
                setattr(self, f"temporal{index}", self.params.get(
                    f"temporal{index}", shape=(memory_size, embed), init=normal))
            self.pe = self.params.get_constant("pe", np.stack([a, b]))      # (2, d)
            self.positions = self.params.get_constant(
                "positions", np.arange(1, sentence_length + 1).reshape(1, -1))   # (1, J)
            self.softmax_mix = self.params.get("softmax_mix", shape=(1, 1), init=mx.init.One(),
                                               grad_req="null", differentiable=False)

    # -- the tied weights, by the paper's names (1-based hops) -------------------
    def A(self, hop: int) -> gluon.Parameter:
        return getattr(self, f"embedding{hop - 1}")

    def C(self, hop: int) -> gluon.Parameter:
        return getattr(self, f"embedding{hop}")

    def T_A(self, hop: int) -> gluon.Parameter:
        return getattr(self, f"temporal{hop - 1}")

    def T_C(self, hop: int) -> gluon.Parameter:
        return getattr(self, f"temporal{hop}")

    @property
    def B(self) -> gluon.Parameter:
        return self.embedding0

    @property
    def W_transposed(self) -> gluon.Parameter:
        return getattr(self, f"embedding{self.hops}")

    def begin_state(self, batch_size: int, ctx=None):
        return []

    def use_softmax(self, on: bool) -> None:
        """Attention softmax on, or off for linear start (in the graph; no re-trace)."""
        self.softmax_mix.set_data(mx.nd.full((1, 1), 1.0 if on else 0.0))

    # -- the graph ----------------------------------------------------------------
    # Sums over words and memory slots are batch_dot products: MXNet's sum over a middle
    # axis is several times slower than batch_dot on the same data.
    def _encode(self, F, ids, pe, positions, weight):
        """Position-encoded bags of words: (R, J) ids -> (R, d)."""
        mask = ids > 0                                                    # (R, J)
        ranks = F.broadcast_mul(mask, positions)                          # (R, J) j, 0 at pads
        words = F.Embedding(ids, weight, input_dim=self._vocab, output_dim=self._embed)
        both = F.batch_dot(F.stack(mask, ranks, axis=1), words)          # (R, 2, d)
        plain, ranked = F.split(both, num_outputs=2, axis=1, squeeze_axis=True)  # (R, d) each
        a, b = F.split(pe, num_outputs=2, axis=0)                         # (1, d): l = a + j b
        return F.broadcast_mul(plain, a) + F.broadcast_mul(ranked, b)

    def _attend(self, F, memory, u, mix):
        """p (N, M) for memories (N, M, d) and the controller u (N, d)."""
        logits = F.reshape(F.batch_dot(memory, F.expand_dims(u, 2)), (0, -1))  # (N, M)
        # mix * softmax + (1 - mix) * logits, without "1 - x" (mx2onnx prints a line for each).
        return F.broadcast_mul(F.softmax(logits, axis=1) - logits, mix) + logits

    def hybrid_forward(self, F, story, question, pe, positions, softmax_mix, **weights):
        slots = F.expand_dims(F.sum(story, axis=2) > 0, 2)                # (N, M, 1) real ones
        sentences = F.reshape(story, (-1, self._length))                  # (N * M, J)
        memories = [F.broadcast_mul(F.broadcast_add(
            F.reshape(self._encode(F, sentences, pe, positions, weights[f"embedding{k}"]),
                      (-1, self._memory, self._embed)),                   # (N, M, d)
            F.expand_dims(weights[f"temporal{k}"], 0)), slots)            # empty slots: 0
            for k in range(self.hops + 1)]
        u = self._encode(F, question, pe, positions, weights["embedding0"])  # (N, d)
        attention = []
        for hop in range(self.hops):
            p = self._attend(F, memories[hop], u, softmax_mix)          # (N, M)
            read = F.batch_dot(F.expand_dims(p, 1), memories[hop + 1])    # (N, 1, d)
            u = F.reshape(read, (0, -1)) + u
            attention.append(p)
        scores = F.FullyConnected(u, weights[f"embedding{self.hops}"], no_bias=True,
                                  num_hidden=self._vocab)                 # (N, V) = u W
        if self._attention_output:
            return scores, F.stack(*attention, axis=1)                    # (N, K, M)
        return scores
