"""What kind of graph is being traced: an export's, and a portable one.

An export folder holds two traces of one model (:mod:`gluon_seq.exporting.writer`):

* inside :func:`portable_graph`, the graph every MXNet 1.9 and the ONNX
  converter read: the recurrent layer uses stock operators only, keeps a
  GRU's units unpadded and splits a bidirectional GRU's or RNN's directions;
* inside :func:`export_graph` alone, the graph gluon_seq's own mxnet runtime
  prefers, with its compiled operators.

Both are an export's (:func:`exporting`), so models add the outputs serving
reads and training does not (the memory networks' attention weights).
This module imports no MXNet.
"""
from __future__ import annotations

import contextlib

_depth = {"export": 0, "portable": 0}


@contextlib.contextmanager
def _inside(kind: str):
    _depth[kind] += 1
    try:
        yield
    finally:
        _depth[kind] -= 1


@contextlib.contextmanager
def export_graph():
    """Graphs traced inside this block are an export's: models return the extra
    outputs serving reads (:func:`exporting`)."""
    with _inside("export"):
        yield


@contextlib.contextmanager
def portable_graph():
    """Graphs traced inside this block are an export's and use only stock MXNet
    operators, so they run on any MXNet 1.9, without gluon_seq's compiled
    operators, and convert to ONNX.  The numbers are the same either way."""
    with _inside("export"), _inside("portable"):
        yield


def exporting() -> bool:
    """Whether the graph being traced is an export's (portable or not)."""
    return bool(_depth["export"])


def portable() -> bool:
    """Whether the graph being traced must hold stock operators only."""
    return bool(_depth["portable"])
