"""benchmarks/batch1.py refuses to write a table whose contenders used different CPU
per wall-second (they would not have had the same threads), and its table reads its rows."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def batch1():
    spec = importlib.util.spec_from_file_location("batch1_under_test",
                                                  ROOT / "benchmarks" / "batch1.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _row(shares, ms=(2.0, 3.0, 1.0)):
    stats = {name: {"times": [t / 1e3] * 10, "cpu": share, "wall": 1.0}
             for name, share, t in zip(("mxnet compiled", "mxnet portable", "onnxruntime"),
                                       shares, ms)}
    return {"task": "ptb", "input": "(1, 30)", "stats": stats, "missing": {},
            "nodes": {"mxnet compiled": 23, "mxnet portable": 23}, "inputs": 3, "outputs": 3}


def test_contenders_more_than_ten_percent_apart_in_cpu_are_flagged(batch1):
    assert batch1.unequal_threads([_row((1.0, 0.95, 0.99))]) == []
    assert batch1.unequal_threads([_row((1.0, 0.85, 0.99))])


def test_the_script_exits_1_and_writes_nothing_when_threads_differ(batch1, monkeypatch):
    written = []
    monkeypatch.setattr(batch1, "measure", lambda *args: [_row((1.0, 0.5, 1.0))])
    monkeypatch.setattr(batch1, "write_section", lambda *args: written.append(args))
    monkeypatch.setattr(sys, "argv", ["batch1.py", "--tasks", "ptb"])
    assert batch1.main() == 1 and not written


def test_the_table_gives_the_ratio_of_the_compiled_graph_to_onnxruntime(batch1):
    text = batch1.table([_row((1.0, 1.0, 1.0))])
    assert "| 23 / 23 | 2.000 / 2.000 | 3.000 / 3.000 | 1.000 / 1.000 | 2.00x | **no** |" in text
