"""GroupedAdam and GroupedSGD are MXNet's Adam and SGD, each tensor through its fastest kernel."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from gluon_seq.training import optim
from gluon_seq.training.loop import optimizer_name


def _train(optimizer, steps=30, **params):
    mx.random.seed(3)
    net = gluon.nn.HybridSequential()  # the first weight is small, the second large
    net.add(gluon.nn.Dense(160, in_units=5), gluon.nn.Dense(70, in_units=160))
    assert net[1].weight.shape[0] * net[1].weight.shape[1] >= optim.ALONE_FROM
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


@pytest.mark.parametrize("name,params", [
    ("adam", {}), ("adam", {"clip_gradient": 0.1}), ("adam", {"wd": 0.01}),
    ("sgd", {}), ("sgd", {"clip_gradient": 0.1, "wd": 0.01}), ("sgd", {"momentum": 0.9})])
def test_grouped_optimizers_match_mxnet(name, params):
    for ours, theirs in zip(_train(optimizer_name(name), **params), _train(name, **params)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)  # float32 rounding differs by op order


@pytest.mark.parametrize("name,namespace,attribute", [
    ("adam", mx.nd.contrib, "multi_adamw_update"),
    ("sgd", mx.optimizer.optimizer, "multi_sgd_update")])  # as each optimizer calls it
def test_only_small_tensors_are_grouped(monkeypatch, name, namespace, attribute):
    original, sizes = getattr(namespace, attribute), []

    def recording(*args, **kwargs):
        sizes.extend(w.size for w in kwargs["out"])
        return original(*args, **kwargs)

    monkeypatch.setattr(namespace, attribute, recording)
    _train(optimizer_name(name), steps=2)
    assert sizes and max(sizes) < optim.ALONE_FROM  # the small tensors went grouped, the large not


def test_adam_and_sgd_are_swapped():
    assert optimizer_name("adam") == "groupedadam"
    assert optimizer_name("SGD") == "groupedsgd"
    assert optimizer_name("rmsprop") == "rmsprop"
