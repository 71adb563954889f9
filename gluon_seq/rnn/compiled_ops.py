"""gluon_seq's compiled CPU operators (C++ in ``csrc/``): the recurrent layer's, the optimizer's.

MXNet operators with hand-written backwards: ``_gs_lstm_layer`` and
``_gs_gru_layer``, every step of one LSTM or GRU layer (the recurrent GEMMs and
the cell); ``_gs_pack``, the fused kernel's flat weight vector by memcpy
(``_rnn_param_concat`` copies element by element); and ``_gs_lstm_cell`` and
``_gs_gru_cell``, one step's cell, which the layers used before the layer
operators and which a graph traced then may hold.  For predictors,
``_gs_panels`` packs a constant weight once, at load, for the layer operators
(``packed=1``) and ``_gs_dense``, FullyConnected's product over such a weight
(:func:`gluon_seq.serving.folding.prepack` rewrites a graph to use them).
For training, ``_gs_sgd_update``, ``_gs_sgd_mom_update`` and ``_gs_adam_update``:
MXNet's optimizer updates to the bit, vectorised (:mod:`gluon_seq.training.optim`
sends large tensors to them).

Compiled on first use with ``$CXX`` (else ``c++``) against the mxnet wheel's
headers, cached under ``$GLUON_SEQ_CACHE`` (default ``~/.cache/gluon_seq``)
keyed by the sources and the CPU.  Without a compiler, or with
``GLUON_SEQ_COMPILED_OPS=0``, the layer uses stock operators: the same numbers,
only slower.  An export's main graph never needs them (docs/kernels.md).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import mxnet as mx

from ..util.cpu import cpu_info

LAYER_OP = "_gs_lstm_layer"
GRU_LAYER_OP = "_gs_gru_layer"
CELL_OP = "_gs_lstm_cell"
GRU_CELL_OP = "_gs_gru_cell"
PACK_OP = "_gs_pack"
PANELS_OP = "_gs_panels"
DENSE_OP = "_gs_dense"
SGD_OP = "_gs_sgd_update"
SGD_MOM_OP = "_gs_sgd_mom_update"
ADAM_OP = "_gs_adam_update"
OPS = (LAYER_OP, GRU_LAYER_OP, CELL_OP, GRU_CELL_OP, PACK_OP, PANELS_OP, DENSE_OP, SGD_OP,
       SGD_MOM_OP, ADAM_OP)
CSRC = Path(__file__).resolve().parent / "csrc"
SOURCES = (CSRC / "lstm_ops.cc", CSRC / "gru_ops.cc", CSRC / "layer_ops.cc",
           CSRC / "dense_ops.cc", CSRC / "update_ops.cc")
HEADERS = (CSRC / "cell_math.h", CSRC / "lstm_rows.h", CSRC / "gru_rows.h", CSRC / "small_gemm.h")
# -fno-trapping-math (IEEE results kept; only FP exception flags may differ) is
# what lets gcc vectorise the gate loops, and -fno-math-errno (sqrt sets no errno)
# Adam's; -march=native gives them the widest vectors this CPU has; -fopenmp
# shares the layer's GEMM among OMP_NUM_THREADS.
FLAGS = ("-shared", "-fPIC", "-O3", "-fno-trapping-math", "-fno-math-errno", "-march=native",
         "-fopenmp", "-std=c++11")
log = logging.getLogger("gluon_seq.compiled_ops")

_state: dict = {}  # "loaded": bool, "reason": why not, once decided in this process


def _mxnet_sources() -> tuple:
    root = Path(mx.__file__).resolve().parent
    return root / "include", root / "src" / "lib_api.cc"


def cache_dir() -> Path:
    return Path(os.environ.get("GLUON_SEQ_CACHE") or Path.home() / ".cache" / "gluon_seq")


def library_path() -> Path:
    """Where this source, mxnet and compiler combination is (or will be) built."""
    include, lib_api = _mxnet_sources()
    digest = hashlib.sha1()
    for part in (*SOURCES, *HEADERS, include / "mxnet" / "lib_api.h", lib_api):
        digest.update(part.read_bytes())
    # -march=native: the build is for this CPU, so its flags are part of the key.
    flags = " ".join(sorted(cpu_info().flags))
    digest.update(f"{mx.__version__} {_compiler()} {FLAGS} {flags}".encode())
    return cache_dir() / f"libgluon_seq_ops-{digest.hexdigest()[:12]}.so"


def _compiler() -> str:
    return os.environ.get("CXX") or "c++"


def build(target: Optional[Path] = None) -> Path:
    """Compile the library to ``target`` (atomically) unless it is already there."""
    target = Path(target or library_path())
    if target.exists():
        return target
    compiler = shutil.which(_compiler())
    if compiler is None:
        raise OSError(f"no C++ compiler ({_compiler()}) on PATH")
    include, lib_api = _mxnet_sources()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        try:
            done = subprocess.run(
                [compiler, *FLAGS, f"-I{include}", *map(str, SOURCES), str(lib_api), "-o", partial],
                capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise OSError(f"{compiler} took more than 600 s") from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).splitlines()
            errors = [line for line in lines if "error" in line] or lines or [""]
            raise OSError(f"{compiler} failed (status {done.returncode}): {errors[0].strip()}")
        os.replace(partial, target)  # concurrent builders each land a whole file
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def unavailable_reason() -> str:
    """Why :func:`available` said no ("" if it said yes or was not asked)."""
    return _state.get("reason", "")


def available() -> bool:
    """Build (once) and load the library; never raises: False, reason logged once, if it cannot."""
    if "loaded" not in _state:
        if os.environ.get("GLUON_SEQ_COMPILED_OPS", "1") == "0":
            _state.update(loaded=False, reason="GLUON_SEQ_COMPILED_OPS=0")
        else:
            try:
                mx.library.load(str(build()), verbose=False)
                _state.update(loaded=True, reason="")
            except (OSError, RuntimeError, mx.base.MXNetError) as err:  # RuntimeError: no home
                text = str(err).strip().splitlines()
                _state.update(loaded=False, reason=text[0] if text else type(err).__name__)
                log.warning("recurrent layers: using stock operators; gluon_seq's compiled operators "
                            "are unavailable (%s)", _state["reason"])
    return _state["loaded"]
