"""Every notebook executes, with papermill, at tiny settings; the executed copies match them."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXECUTED = ROOT / "notebooks" / "executed"
# Tiny settings per notebook; a parameter a notebook does not declare is ignored by papermill.
TINY = {"epochs": 1, "train_samples": 256, "test_size": 1000, "eval_samples": 200,
        "rnn_backend": "auto", "ctx": "cpu"}
# Notebooks that read a data file, and the file under the data folder.
NEEDS_DATA = {"03_sentiment_imdb": "imdb/aclImdb_v1_labeled.tar.gz"}
MAX_EXECUTED_BYTES = 1_500_000  # the executed copies are committed: keep them small

sys.path.insert(0, str(ROOT / "scripts"))
import render_notebooks  # noqa: E402


def _cells(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(notebook, tmp_path):
    papermill = pytest.importorskip("papermill")
    if notebook.stem in NEEDS_DATA:
        from gluon_seq.data.files import default_data_dir

        if not (default_data_dir() / NEEDS_DATA[notebook.stem]).is_file():
            pytest.skip(f"{NEEDS_DATA[notebook.stem]} is not in {default_data_dir()}")
    out = tmp_path / notebook.name
    params = dict(TINY, out=str(tmp_path / "run"))
    papermill.execute_notebook(str(notebook), str(out), parameters=params, cwd=str(ROOT),
                               kernel_name="python3", progress_bar=False)
    outputs = [o for c in _cells(out) if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure was shown"


def test_notebooks_are_stored_without_outputs():
    for notebook in NOTEBOOKS:
        cells = _cells(notebook)
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), notebook.name
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), notebook.name


@pytest.mark.parametrize("executed", sorted(EXECUTED.glob("*.ipynb")), ids=lambda p: p.stem)
def test_executed_copies_run_the_current_sources(executed):
    """An executed copy is the source run at its defaults: the same cells (links fixed for
    its folder), every code cell ran without error, and small enough to commit."""
    source = ROOT / "notebooks" / executed.name
    assert source.is_file(), f"{executed.name} has no source notebook"
    text = lambda cells: [(c["cell_type"], "".join(c["source"])) for c in cells]
    expected = render_notebooks.tidy(json.loads(source.read_text(encoding="utf-8")))["cells"]
    cells = _cells(executed)
    assert text(cells) == text(expected), f"rerun: make notebooks NOTEBOOKS={executed.stem}"
    ran = [c for c in cells if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in ran)
    assert not [o for c in ran for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert executed.stat().st_size < MAX_EXECUTED_BYTES


def test_render_picks_notebooks_by_name_and_fixes_links_for_its_folder(tmp_path):
    for name in ("01_a", "02_b", "04_c"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in render_notebooks.selected(["04", "01"], tmp_path)] == ["01_a", "04_c"]
    assert len(render_notebooks.selected([], tmp_path)) == 3
    notebook = {"metadata": {"papermill": {"duration": 1.0}}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["see [x](../BENCHMARKS.md) and ",
                                                              "[y](https://a/../b)"]},
        {"cell_type": "code", "metadata": {"papermill": {}, "execution": {}}, "source": ["1"]}]}
    tidy = render_notebooks.tidy(notebook)
    assert tidy["cells"][0]["source"] == "see [x](../../BENCHMARKS.md) and [y](https://a/../b)"
    assert tidy["cells"][1]["metadata"] == {} and "papermill" not in tidy["metadata"]
