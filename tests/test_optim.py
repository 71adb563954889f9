"""GroupedAdam is MXNet's Adam, applied to groups of tensors at once."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from gluon_seq.training.loop import optimizer_name


def _train(optimizer, steps=30, **params):
    mx.random.seed(3)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(7, in_units=5), gluon.nn.Dense(3, in_units=7))
    net.initialize(mx.init.Xavier())
    trainer = gluon.Trainer(net.collect_params(), optimizer, dict(learning_rate=0.01, **params))
    rng = np.random.RandomState(0)
    for _ in range(steps):
        x = mx.nd.array(rng.randn(8, 5))
        with autograd.record():
            loss = (net(x) ** 2).sum() * 10  # large gradients, so clipping matters
        loss.backward()
        trainer.step(8)
    return [p.data().asnumpy() for p in net.collect_params().values()]


@pytest.mark.parametrize("params", [{}, {"clip_gradient": 0.1}, {"wd": 0.01}])
def test_grouped_adam_matches_mxnet_adam(params):
    for ours, theirs in zip(_train(optimizer_name("adam"), **params), _train("adam", **params)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)  # float32 rounding differs by op order


def test_only_adam_is_swapped():
    assert optimizer_name("adam") == "groupedadam"
    assert optimizer_name("rmsprop") == "rmsprop"
