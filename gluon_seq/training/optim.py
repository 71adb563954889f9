"""MXNet's Adam and SGD, with each tensor sent to the update kernel that is fastest for it.

MXNet's ``Adam`` launches one ``adam_update`` per parameter per step, most of a
small model's optimizer time.  Without weight decay ``multi_adamw_update``
computes exactly Adam's update, so :class:`GroupedAdam` sends it up to 45 small
tensors at once (with decay, plain Adam: its L2 term is not AdamW's decay).
MXNet's ``SGD`` already groups every tensor into ``multi_sgd_update``.

The multi-tensor kernels pay per element, though: from about 10,000 elements on,
one call per tensor is faster, and at PTB medium's million-element matrices several
times faster (BENCHMARKS.md, "Optimizer updates").  So tensors of ``ALONE_FROM``
elements or more are updated by a call of their own and only the smaller ones are
grouped.  On a CPU that call is gluon_seq's compiled update (``_gs_sgd_update``,
``_gs_sgd_mom_update``, ``_gs_adam_update``: MXNet's formulas to the bit, about
8x faster than MXNet 1.9.1's one-tensor kernels); elsewhere, or without the
compiled operators, MXNet's (``sgd_update``, ``sgd_mom_update``, ``adam_update``).
``--optimizer adam`` and ``sgd`` select these classes; their states have MXNet's
layouts, so checkpoints load either way.
"""
from __future__ import annotations

import math
from typing import List, Tuple

import mxnet as mx
import numpy as np

from ..rnn import compiled_ops

GROUP_SIZE = 45  # the multi-tensor Adam kernel's limit
ALONE_FROM = 10_000  # elements: a tensor this large is updated by a call of its own


def _compiled(weight, grad) -> bool:
    """Whether gluon_seq's compiled update takes this tensor: dense float32 on a CPU."""
    return (weight.context.device_type == "cpu" and weight.dtype == np.float32
            and weight.stype == "default" and grad.stype == "default"
            and compiled_ops.available())


class _Routing:
    """Which kernel updates a tensor.  ``alone_from``: elements from which a tensor is
    updated by a call of its own; ``compiled``: whether such a call may be gluon_seq's
    compiled update.  Both are optimizer arguments (``Trainer(..., {"compiled": False})``);
    the class values are the defaults, and what an optimizer pickled before they
    existed (a checkpoint's trainer state) reads."""

    alone_from = ALONE_FROM
    compiled = True

    def __init__(self, alone_from: int = ALONE_FROM, compiled: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.alone_from, self.compiled = alone_from, compiled

    def _by_size(self, index, weight, grad, state) -> Tuple[List[tuple], List[tuple]]:
        """(small, large): the (index, weight, grad, state) rows of tensors under
        ``alone_from`` elements, and of the others."""
        small, large = [], []
        for row in zip(index, weight, grad, state):
            (large if row[1].size >= self.alone_from else small).append(row)
        return small, large

    def _clip(self) -> dict:
        """The update operators' ``clip_gradient`` argument, when the optimizer clips."""
        return {"clip_gradient": self.clip_gradient} if self.clip_gradient else {}

    def _takes_compiled(self, weight, grad) -> bool:
        return self.compiled and _compiled(weight, grad)

    def _update_op(self, stock: str, compiled: str, weight, grad):
        """MXNet's ``stock`` update operator, or gluon_seq's ``compiled`` one where it applies."""
        if self._takes_compiled(weight, grad):
            return getattr(mx.nd._internal, compiled)
        return getattr(mx.nd, stock)


def _columns(rows: List[tuple]) -> List[list]:
    """[indices, weights, grads, states] of ``rows``."""
    return [list(column) for column in zip(*rows)]


@mx.optimizer.register
class GroupedAdam(_Routing, mx.optimizer.Adam):
    """``mx.optimizer.Adam``'s update: small tensors in groups, large ones alone."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.aggregate_num = GROUP_SIZE if not self.wd else 0
        self._rescale = {}  # (value, context) -> NDArray: the kernel takes it as an array

    def __getstate__(self):  # Trainer.save_states pickles the optimizer
        state = super().__getstate__()
        state["_rescale"] = {}
        return state

    def _rescale_array(self, ctx) -> mx.nd.NDArray:
        key = (self.rescale_grad, ctx)
        if key not in self._rescale:
            self._rescale = {key: mx.nd.full((1,), self.rescale_grad, ctx=ctx)}
        return self._rescale[key]

    def _step_size(self, index) -> float:
        self._update_count(index)
        t = self._index_update_count[index]
        # MXNet's Adam.update rounds in this order; the compiled update matches it to the bit.
        return self._get_lr(index) * (math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t))

    def update(self, index, weight, grad, state):
        if not isinstance(index, (list, tuple)):  # one at a time: with weight decay
            index, weight, grad, state = [index], [weight], [grad], [state]
        small, large = self._by_size(index, weight, grad, state)
        for row in large:
            self._update_alone(*row)
        if small:
            self._update_group(*_columns(small))

    def _update_alone(self, index, weight, grad, state) -> None:
        if not self._takes_compiled(weight, grad):
            super().update(index, weight, grad, state)  # MXNet's (and its lazy sparse path)
            return
        getattr(mx.nd._internal, compiled_ops.ADAM_OP)(
            weight, grad, state[0], state[1], lr=self._step_size(index), wd=self._get_wd(index),
            rescale_grad=self.rescale_grad, out=weight, **self._moments())

    def _moments(self) -> dict:
        """The Adam kernels' arguments besides the learning rate, decay and rescale."""
        return {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon, **self._clip()}

    def _update_group(self, index, weight, grad, state) -> None:
        wds = [self._get_wd(i) for i in index]
        if any(wds) or any(w.stype != "default" or g.stype != "default"
                           for w, g in zip(weight, grad)):
            for row in zip(index, weight, grad, state):
                super().update(*row)
            return
        mx.nd.contrib.multi_adamw_update(
            weight, grad, [s[0] for s in state], [s[1] for s in state],
            self._rescale_array(weight[0].context), lrs=[self._step_size(i) for i in index], wds=wds,
            etas=[1.0] * len(index), out=weight, **self._moments())

    def update_multi_precision(self, index, weight, grad, state):
        if isinstance(index, (list, tuple)) and not self.multi_precision:
            return self.update(index, weight, grad, state)
        return super().update_multi_precision(index, weight, grad, state)


@mx.optimizer.register
class GroupedSGD(_Routing, mx.optimizer.SGD):
    """``mx.optimizer.SGD``'s update: small tensors in groups, large ones alone."""

    def update(self, index, weight, grad, state):
        if not isinstance(index, (list, tuple)):
            index, weight, grad, state = [index], [weight], [grad], [state]
        small, large = self._by_size(index, weight, grad, state)
        for row in large:
            self._update_alone(*row)
        if small:
            super().update(*_columns(small))

    def _update_alone(self, index, weight, grad, state) -> None:
        if weight.stype != "default" or grad.stype != "default":
            super().update(index, weight, grad, state)  # MXNet's lazy row-sparse path
            return
        self._update_count(index)
        kwargs = {"lr": self._get_lr(index), "wd": self._get_wd(index),
                  "rescale_grad": self.rescale_grad, "out": weight, **self._clip()}
        if state is None:
            self._update_op("sgd_update", compiled_ops.SGD_OP, weight, grad)(weight, grad, **kwargs)
        else:
            update = self._update_op("sgd_mom_update", compiled_ops.SGD_MOM_OP, weight, grad)
            update(weight, grad, state, momentum=self.momentum, **kwargs)

    def update_multi_precision(self, index, weight, grad, state):
        if not self.multi_precision:
            return self.update(index, weight, grad, state)
        return super().update_multi_precision(index, weight, grad, state)
