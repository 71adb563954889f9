"""benchmarks/batch1.py refuses to write a table whose contenders used different CPU
per wall-second (they would not have had the same threads)."""
import pytest


def _row(shares):
    stats = {name: {"times": [1e-3] * 10, "cpu": share, "wall": 1.0}
             for name, share in zip(("mxnet compiled", "mxnet portable", "onnxruntime"), shares)}
    return {"task": "ptb", "input": "(1, 30)", "stats": stats, "missing": {},
            "nodes": {"mxnet compiled": 23, "mxnet portable": 23}, "inputs": 3, "outputs": 3}


@pytest.mark.parametrize("shares,stops", [((1.0, 0.95, 0.99), False), ((1.0, 0.5, 1.0), True)])
def test_the_table_is_written_only_when_the_contenders_had_the_same_cpu(load_script, monkeypatch,
                                                                       shares, stops):
    batch1, harness = load_script("benchmarks/batch1.py"), load_script("benchmarks/harness.py")
    written = []
    monkeypatch.setattr(batch1, "measure", lambda *args: [_row(shares)])
    monkeypatch.setattr(batch1, "causes", lambda rows: [])
    monkeypatch.setattr(harness, "write_section", lambda *args: written.append(args))
    monkeypatch.setattr(harness, "_commit", lambda: "abc1234")  # a committed state
    if stops:
        with pytest.raises(SystemExit, match="unequal CPU"):
            batch1.main(["--tasks", "ptb"])
    else:
        batch1.main(["--tasks", "ptb"])
    assert bool(written) != stops


def test_a_run_of_uncommitted_code_writes_nothing(load_script, monkeypatch):
    """Every table names the commit it measured, so a dirty tree writes no table."""
    batch1, harness = load_script("benchmarks/batch1.py"), load_script("benchmarks/harness.py")
    written = []
    monkeypatch.setattr(batch1, "measure", lambda *args: [_row((1.0, 1.0, 1.0))])
    monkeypatch.setattr(batch1, "causes", lambda rows: [])
    monkeypatch.setattr(harness, "write_section", lambda *args: written.append(args))
    monkeypatch.setattr(harness, "_commit", lambda: "abc1234 with uncommitted changes")
    with pytest.raises(SystemExit, match="uncommitted changes"):
        batch1.main(["--tasks", "ptb"])
    assert not written
