#!/usr/bin/env python
"""Run every notebook at its full default settings into notebooks/rendered/ for reading.

    .venv/bin/python scripts/render_notebooks.py [NAME_SUBSTRING ...]

The stored notebooks have no outputs; the rendered copies do (they are not committed).
Needs the ``notebooks`` extra; without it, one sentence names the install that fixes it.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gluon_seq.util.errors import UserError  # noqa: E402
from gluon_seq.serving.extras import require  # noqa: E402

NEEDS = ("papermill", "nbformat", "ipykernel")  # ipykernel: the "python3" kernel papermill runs


def main(filters):
    try:
        papermill = [require(module, "notebooks") for module in NEEDS][0]
    except UserError as err:
        print(err, file=sys.stderr)
        return 2
    target = ROOT / "notebooks" / "rendered"
    target.mkdir(exist_ok=True)
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if filters and not any(f in notebook.stem for f in filters):
            continue
        print(f"rendering {notebook.name}", flush=True)
        papermill.execute_notebook(str(notebook), str(target / notebook.name), cwd=str(ROOT),
                                   kernel_name="python3")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
