"""gluon_seq: five classic LSTM tutorials as MXNet Gluon tasks, one fused/unfused LSTM.

The public API, what the notebooks and scripts use::

    from gluon_seq import RunConfig, train, evaluate, export, load_predictor, build

    config = RunConfig.for_task("arithmetic", epochs=5)   # task defaults, preset, overrides
    metrics = train(config, "runs/arithmetic")             # trains, evaluates, exports
    evaluate("runs/arithmetic")                            # the best checkpoint, again
    folder = export("runs/arithmetic", onnx=True)          # (re)writes runs/arithmetic/export
    model = load_predictor(folder)                         # serves with no task code
    model.predict(["7*3*2"])                               # ['42']
    bench = build(config)                                  # task, data and untrained model

A user's mistake raises :class:`UserError` (one sentence); anything else is a bug.
The names load MXNet on first use, so ``import gluon_seq`` stays cheap.
"""
from .util.errors import UserError
from .util.runtime import configure_threads as _configure_threads

# Before mxnet is imported anywhere: its OpenMP pool is sized at import time.
_configure_threads()

__version__ = "0.1.0"

_API = {"RunConfig": "gluon_seq.training.config:RunConfig",
        "train": "gluon_seq.training.workflow:train",
        "build": "gluon_seq.training.workflow:build",
        "evaluate": "gluon_seq.training.workflow:reevaluate",
        "export": "gluon_seq.training.workflow:export",
        "load_predictor": "gluon_seq.serving:load_predictor"}


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'gluon_seq' has no attribute {name!r}")
    import importlib

    module, _, attribute = _API[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


__all__ = ["RunConfig", "UserError", "build", "evaluate", "export", "load_predictor", "train"]
