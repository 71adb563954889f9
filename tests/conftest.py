"""Shared fixtures.  The suite is seeded; the seed is printed so a failure can be replayed."""
import importlib
import os
import random
import sys
from pathlib import Path

# Before anything imports mxnet.  Test shapes are tiny, and two OpenMP threads
# that spin-wait on a busy 2-core machine made a small training run 30x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from gluon_seq.rnn import LayerFactory

SEED = int(os.environ.get("GLUON_SEQ_TEST_SEED", "1234"))
ROOT = Path(__file__).resolve().parent.parent


def pytest_report_header(config):
    return f"gluon_seq test seed: {SEED} (set GLUON_SEQ_TEST_SEED to change)"


def _usable_gpu() -> bool:
    try:
        from gluon_seq.util.runtime import parse_contexts

        parse_contexts("gpu:0")
        return True
    except Exception:  # no CUDA build, no device, or an architecture the wheel lacks
        return False


def pytest_collection_modifyitems(config, items):
    if not any("gpu" in item.keywords for item in items):
        return
    if not _usable_gpu():
        skip = pytest.mark.skip(reason="no GPU that the installed mxnet can run on")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    import mxnet as mx

    random.seed(SEED)
    np.random.seed(SEED)
    mx.random.seed(SEED)
    yield


@pytest.fixture
def needs_compiled_ops():
    """Skip unless gluon_seq's compiled operators build and load here (asked when the
    test runs, so collecting the suite never compiles C++)."""
    from gluon_seq.rnn import compiled_ops

    if not compiled_ops.available():
        pytest.skip(f"compiled ops unavailable: {compiled_ops.unavailable_reason()}")


@pytest.fixture(scope="session")
def export_untrained():
    """``export_untrained(task, folder, backend="fused") -> (model, folder)``: a freshly
    initialised model of a prepared task, exported to ``folder`` (untrained answers are
    deterministic, which is all the export, serving and ONNX tests need)."""
    from gluon_seq.exporting.writer import export_model

    def make(task, folder, backend="fused"):
        model = task.build_model(LayerFactory(backend))
        model.initialize(task.initializer())
        return model, export_model(task, model, folder)

    return make


@pytest.fixture(scope="session")
def load_script():
    """``load_script("benchmarks/speed.py")``: a script of this repository imported as a
    module, with its folder first on sys.path as when it runs (the benchmarks import
    their harness by name)."""
    def load(relative: str):
        path = ROOT / relative
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        return importlib.import_module(path.stem)

    return load
