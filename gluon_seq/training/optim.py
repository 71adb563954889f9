"""Adam with one operator call per group of tensors.

MXNet's ``Adam`` launches one ``adam_update`` per parameter per step, most of a
small model's optimizer time.  Without weight decay ``multi_adamw_update``
computes exactly Adam's update, so :class:`GroupedAdam` sends it up to 45
tensors at once (with decay, plain Adam: its L2 term is not AdamW's decay).
``--optimizer adam`` selects it; its state has Adam's (mean, variance) layout.
"""
from __future__ import annotations

import math

import mxnet as mx

GROUP_SIZE = 45  # the multi-tensor kernel's limit


@mx.optimizer.register
class GroupedAdam(mx.optimizer.Adam):
    """``mx.optimizer.Adam``'s update, applied to groups of tensors."""

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
        return self._get_lr(index) * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)

    def update(self, index, weight, grad, state):
        if not isinstance(index, (list, tuple)):
            return super().update(index, weight, grad, state)
        wds = [self._get_wd(i) for i in index]
        if any(wds) or any(w.stype != "default" or g.stype != "default"
                           for w, g in zip(weight, grad)):
            for args in zip(index, weight, grad, state):
                super().update(*args)
            return None
        kwargs = {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}
        if self.clip_gradient:
            kwargs["clip_gradient"] = self.clip_gradient
        mx.nd.contrib.multi_adamw_update(
            list(weight), list(grad), [s[0] for s in state], [s[1] for s in state],
            self._rescale_array(weight[0].context), lrs=[self._step_size(i) for i in index], wds=wds,
            etas=[1.0] * len(index), out=list(weight), **kwargs)
        return None

    def update_multi_precision(self, index, weight, grad, state):
        if isinstance(index, (list, tuple)) and not self.multi_precision:
            return self.update(index, weight, grad, state)
        return super().update_multi_precision(index, weight, grad, state)
