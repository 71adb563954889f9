"""Serving: export folders answered by a runtime, over the CLI, HTTP or MMS.

==================  ==========================================================
``predictors``      the runtime registry, :class:`Predictor`, the ``mxnet``
                    runtime and :func:`load_predictor` (what every front end
                    calls)
``onnx_runtime``    the ``onnxruntime`` runtime (``model.onnx``)
``requests``        model names, body reading and parsing, shared by HTTP and MMS
``batching``        one worker per model: bounded queue, thread, merged model runs
``limits``          early answers a client can read (drained bodies), bearer tokens
``metrics``         ``GET /metrics``: Prometheus counters and histograms, per app
``http``            the FastAPI app (``create_app``)
``server``          uvicorn with a drain time on SIGTERM (``/ready`` 503 first)
``command``         ``gluon-seq serve`` (argparse + uvicorn)
``mms``             the Multi Model Server handler and its MAR manifest
``extras``          optional packages, with a UserError naming the extra
``process``         ``gluon-seq serve`` in a subprocess (scripts, notebooks, tests)
==================  ==========================================================

A new runtime is one ``@register_runtime("name")`` subclass of
:class:`Predictor` in a module here, imported below.  Serving reads export
folders alone: it never imports the CLI, a task, training or run folders.
"""
from . import onnx_runtime  # noqa: F401  registers "onnxruntime"; onnxruntime loads on use
from .predictors import RUNTIMES, Predictor, load_predictor, register_runtime

__all__ = ["RUNTIMES", "Predictor", "load_predictor", "register_runtime"]
