"""Serving: export folders answered by a runtime, over the CLI, HTTP or MMS.

``predictors``: the runtime registry, :class:`Predictor`, the mxnet runtime and
:func:`load_predictor`; ``onnx_runtime``: the onnxruntime one; ``format``: the
export folder's files; ``requests``, ``batching``, ``limits``, ``metrics``,
``http``, ``server``, ``command``: ``gluon-seq serve``; ``mms``: the Multi Model
Server handler; ``process``: ``serve`` in a subprocess; ``extras``: optional packages.

A new runtime is one ``@register_runtime("name")`` :class:`Predictor` subclass in
a module imported below.  Serving reads export folders alone: it never imports
the CLI, a task, training or run folders (docs/serving.md).
"""
from . import onnx_runtime  # noqa: F401  registers "onnxruntime"; onnxruntime loads on use
from .predictors import RUNTIMES, Predictor, load_predictor, register_runtime

__all__ = ["RUNTIMES", "Predictor", "load_predictor", "register_runtime"]
