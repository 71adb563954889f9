"""Every notebook executes, with papermill, at tiny settings."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Tiny settings per notebook; a parameter a notebook does not declare is ignored by papermill.
TINY = {"epochs": 1, "train_samples": 256, "rnn_backend": "auto", "ctx": "cpu"}

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(notebook, tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / notebook.name
    params = dict(TINY, out=str(tmp_path / "run"))
    papermill.execute_notebook(str(notebook), str(out), parameters=params, cwd=str(ROOT),
                               kernel_name="python3", progress_bar=False)
    assert out.is_file()


def test_notebooks_are_stored_without_outputs():
    import json

    for notebook in NOTEBOOKS:
        cells = json.loads(notebook.read_text())["cells"]
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), notebook.name
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), notebook.name
