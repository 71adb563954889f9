"""The ``onnxruntime`` serving runtime: an export folder's ``model.onnx``, on the CPU.

onnxruntime is imported when a predictor is made, so the runtime registers even
without the ``onnx`` extra; using it then is a UserError naming the extra.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import numpy as np

from ..util.errors import UserError
from .format import ONNX_FILE
from .extras import require
from .predictors import Predictor, register_runtime


def one_line(err: Exception) -> str:
    """The first line of an exception from the ONNX tools (mx2onnx, onnxruntime)."""
    # mx2onnx raises e.g. AttributeError("Reshape: Shape value not supported in ONNX", -3).
    text = " ".join(str(a) for a in err.args) if err.args else type(err).__name__
    return (text.strip().splitlines() or [type(err).__name__])[0]


@register_runtime("onnxruntime")
class OnnxRuntimePredictor(Predictor):
    """``model.onnx`` of an export folder, run by onnxruntime on the CPU."""

    def __init__(self, folder: Path, threads: Optional[int] = None):
        ort = require("onnxruntime", "onnx")
        super().__init__(folder)
        path = self.folder / ONNX_FILE
        if not path.is_file():
            raise UserError(f"{path} does not exist; write it with 'gluon-seq export RUN_DIR --onnx' "
                            "or serve with --backend mxnet.")
        options = ort.SessionOptions()
        # Follow OMP_NUM_THREADS like MXNet does, so the two runtimes compare fairly.
        threads = threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as err:
            raise UserError(f"{path} cannot be loaded ({one_line(err)}); re-run 'gluon-seq export "
                            "RUN_DIR --onnx'.") from None
        self.input_names = [s["name"] for s in self.meta["inputs"]]  # mx2onnx keeps them

    def _execute(self, feed: List[np.ndarray]) -> List[np.ndarray]:
        return self.session.run(None, dict(zip(self.input_names, feed)))
