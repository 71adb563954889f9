"""The recurrent layers speed.py races and profiling/step_profile.py profiles: ours (fused or
unfused, with gluon_seq's compiled operators or stock ones), stock Gluon's and PyTorch's,
at the shapes of the tasks' models.  Each contender is a pair of callables, (train step,
inference step, which returns the output), on random data of one shape.

A training step feeds the layer's output the gradient of its mean, a constant, instead of
computing that mean: the loss is not the layer's cost (no task model reduces a whole
(T, N, H) output), and MXNet's ``mean`` of IMDB's 6.4 million outputs took 38.6 ms against
PyTorch's 4.7 (``profiling/step_profile.py``, 2026-12-07).

FLOPs counted: per token, a layer of G gates (LSTM 4, GRU 3) does G*H * (C + H)
multiply-adds forward, i.e. 2GH(C+H) floating-point operations.
"""
from __future__ import annotations

import importlib.util
import os

import gluon_seq  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
import mxnet as mx
from mxnet import autograd, gluon

from gluon_seq.rnn import RecurrentLayer
from gluon_seq.training.loop import optimizer_name

# (T, B, input, hidden, layers)
SHAPES = {
    "ptb": (30, 20, 500, 500, 2),
    "arithmetic": (8, 32, 13, 32, 1),
    "count-ones": (20, 1000, 1, 24, 1),
    "imdb": (500, 128, 32, 100, 1),
}
GATES = {"lstm": 4, "gru": 3}
NAMES = {"lstm": "LSTM", "gru": "GRU"}  # gluon.rnn.LSTM, LSTMCell, torch.nn.LSTM, ...
HAVE_TORCH = importlib.util.find_spec("torch") is not None  # optional: pip install torch==2.13.0


def layer_flops(T, B, C, H, L, gates: int = 4) -> float:
    total, inp = 0.0, C
    for _ in range(L):
        total += 2.0 * gates * H * (inp + H) * T * B
        inp = H
    return total


def kinds_for(cell: str):
    # "ours fused" and "ours unfused" are the layer as it runs by default on CPU,
    # with gluon_seq's compiled operators (gluon_seq.rnn.compiled_ops: the weight
    # packing, the cell step); ", stock ops" is the same kernel without them;
    # "ours fused, unpadded" without the padding of a narrow layer's units (fused.py).
    kinds = ["ours fused", "ours fused, stock ops", "ours unfused", "ours unfused, stock ops",
             f"gluon.rnn.{NAMES[cell]}", f"{NAMES[cell]}Cell stack"]
    return kinds[:1] + ["ours fused, unpadded"] + kinds[1:]


class _Cells(gluon.HybridBlock):
    """Stock unfused baseline: HybridSequentialRNNCell of LSTMCell or GRUCell, unrolled."""

    def __init__(self, cell, T, C, H, L, **kwargs):
        super().__init__(**kwargs)
        self._T = T
        with self.name_scope():
            self.cells = gluon.rnn.HybridSequentialRNNCell()
            for layer in range(L):
                self.cells.add(getattr(gluon.rnn, f"{NAMES[cell]}Cell")(
                    H, input_size=C if layer == 0 else H))

    def hybrid_forward(self, F, x, *states):
        out, _ = self.cells.unroll(self._T, x, begin_state=list(states), layout="TNC",
                                   merge_outputs=True)
        return out


class _Layer(gluon.HybridBlock):
    """One recurrent layer, ours or stock, called as ``layer(x, states)``."""

    def __init__(self, make, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.layer = make()

    def hybrid_forward(self, F, x, *states):
        out, _ = self.layer(x, list(states))
        return out


def _block(kind, cell, shape, batch):
    """The MXNet contender ``kind`` and its begin states."""
    T, _, C, H, L = shape
    states = [mx.nd.zeros((L, batch, H)) for _ in range(2 if cell == "lstm" else 1)]
    if kind.startswith("ours "):  # "ours fused", "ours unfused, stock ops", ...
        kernel = kind.split()[1].rstrip(",")
        ops = False if "stock ops" in kind else None
        return _Layer(lambda: RecurrentLayer(H, num_layers=L, kernel=kernel, input_size=C,
                                             length=T, compiled_ops=ops, cell=cell,
                                             pad_units="unpadded" not in kind)), states
    if kind.startswith("gluon.rnn."):
        return _Layer(lambda: getattr(gluon.rnn, NAMES[cell])(H, L, input_size=C)), states
    return _Cells(cell, T, C, H, L), [mx.nd.zeros((batch, H)) for _ in range(len(states) * L)]


def mxnet_contender(kind, cell, shape, batch):
    block, states = _block(kind, cell, shape, batch)
    block.initialize(mx.init.Xavier())
    block.hybridize(static_alloc=True, static_shape=True)
    # gluon_seq's SGD (what `gluon-seq train` uses) for every layer, so rows differ by layer only.
    trainer = gluon.Trainer(block.collect_params(), optimizer_name("sgd"), {"learning_rate": 1e-3})
    x = mx.nd.random.uniform(shape=(shape[0], batch, shape[2]))
    head = mx.nd.full((shape[0], batch, shape[3]), 1.0 / (shape[0] * batch * shape[3]))

    def train():
        with autograd.record():
            out = block(x, *states)                               # (T, N, H)
        out.backward(head)  # d mean(out) / d out
        trainer.step(1)
        out.wait_to_read()

    def infer():
        out = block(x, *states)
        out.wait_to_read()
        return out

    return train, infer


def torch_contender(cell, shape, batch):
    import torch

    T, _, C, H, L = shape
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = getattr(torch.nn, NAMES[cell])(C, H, L)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.rand(T, batch, C)
    head = torch.full((T, batch, H), 1.0 / (T * batch * H))

    def train():
        optimizer.zero_grad()
        out, _ = model(x)
        out.backward(head)  # d mean(out) / d out, as the MXNet contenders
        optimizer.step()

    def infer():
        with torch.no_grad():
            return model(x)[0]

    return train, infer
