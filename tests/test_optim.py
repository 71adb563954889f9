"""GroupedAdam and GroupedSGD are MXNet's Adam and SGD, each tensor through its fastest kernel."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from gluon_seq.rnn import compiled_ops
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


# MXNet's update operator, gluon_seq's, and how many states follow the weight and gradient.
UPDATES = [("sgd_update", compiled_ops.SGD_OP, 0, {}),
           ("sgd_mom_update", compiled_ops.SGD_MOM_OP, 1, {"momentum": 0.9}),
           ("adam_update", compiled_ops.ADAM_OP, 2, {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6})]


@pytest.mark.usefixtures("needs_compiled_ops")
@pytest.mark.parametrize("stock,compiled,states,extra", UPDATES)
@pytest.mark.parametrize("size", [37, 70_001])  # a vector tail; OpenMP's threads share it
@pytest.mark.parametrize("scalars", [{"lr": 0.1}, {"lr": 0.37, "wd": 1e-2, "rescale_grad": 0.05,
                                                   "clip_gradient": 2e-3}])
def test_compiled_updates_are_mxnets_to_the_bit(stock, compiled, states, extra, size, scalars):
    rng = np.random.RandomState(size)
    weight, grad, *state = [mx.nd.array(rng.uniform(-1, 1, size)) for _ in range(2 + states)]
    if states == 2:
        state[1] = state[1] ** 2  # Adam's second moment is not negative
    theirs = [a.copy() for a in state]
    ours = [a.copy() for a in state]
    expected = getattr(mx.nd, stock)(weight, grad, *theirs, **scalars, **extra)
    got = getattr(mx.nd._internal, compiled)(weight, grad, *ours, **scalars, **extra)
    assert not np.array_equal(expected.asnumpy(), weight.asnumpy())  # it did update
    for a, b in zip([expected, *theirs], [got, *ours]):
        assert np.array_equal(a.asnumpy(), b.asnumpy())  # the same rounding, element by element


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("name,params,stock,ours", [
    ("sgd", {}, "sgd_update", compiled_ops.SGD_OP),
    ("sgd", {"momentum": 0.9}, "sgd_mom_update", compiled_ops.SGD_MOM_OP),
    ("adam", {"clip_gradient": 0.1}, "adam_update", compiled_ops.ADAM_OP),
    ("adam", {"wd": 0.01}, "adam_update", compiled_ops.ADAM_OP)])  # one tensor at a time
def test_large_tensors_take_the_compiled_update_on_a_cpu(monkeypatch, request, compiled, name,
                                                         params, stock, ours):
    if compiled:
        request.getfixturevalue("needs_compiled_ops")
    else:
        monkeypatch.setattr(optim.compiled_ops, "available", lambda: False)
    theirs = _train(name, steps=3, **params)
    calls = []  # (operator, elements) of every update call of ours
    # MXNet's optimizers call the stock operators by the names they imported.
    for namespace, attribute in [(mx.nd, stock), (mx.optimizer.optimizer, stock),
                                 (mx.nd._internal, ours)]:
        def recording(*args, _name=attribute, _original=getattr(namespace, attribute), **kwargs):
            calls.append((_name, args[0].size))
            return _original(*args, **kwargs)
        monkeypatch.setattr(namespace, attribute, recording)
    for a, b in zip(_train(optimizer_name(name), steps=3, **params), theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert {op for op, size in calls if size >= optim.ALONE_FROM} == {ours if compiled else stock}


def test_an_optimizer_pickled_before_its_routing_arguments_loads_with_the_defaults():
    import pickle

    old = optim.GroupedSGD(learning_rate=0.1, alone_from=5, compiled=False)
    for name in ("alone_from", "compiled"):  # as a checkpoint's trainer state from before holds it
        del old.__dict__[name]
    restored = pickle.loads(pickle.dumps(old))
    assert (restored.alone_from, restored.compiled) == (optim.ALONE_FROM, True)
    chosen = optim.GroupedSGD(learning_rate=0.1, alone_from=5, compiled=False)
    assert (chosen.alone_from, chosen.compiled) == (5, False)


def test_weights_on_a_gpu_or_in_another_dtype_take_mxnets_kernels(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(optim.compiled_ops, "available", lambda: True)
    grad = SimpleNamespace(stype="default")
    tensor = lambda ctx, dtype, stype="default": SimpleNamespace(context=ctx, dtype=dtype,
                                                                 stype=stype)
    assert optim._compiled(tensor(mx.cpu(), np.float32), grad)
    assert not optim._compiled(tensor(mx.gpu(0), np.float32), grad)  # the library is CPU-only
    assert not optim._compiled(tensor(mx.cpu(), np.float16), grad)
    assert not optim._compiled(tensor(mx.cpu(), np.float32, "row_sparse"), grad)
    sgd = optim.GroupedSGD(learning_rate=0.1, compiled=False)
    assert not sgd._takes_compiled(tensor(mx.cpu(), np.float32), grad)
