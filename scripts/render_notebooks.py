#!/usr/bin/env python
"""Execute the notebooks at their default parameters into notebooks/executed/, outputs kept.

    .venv/bin/python scripts/render_notebooks.py [NAME_FILTER ...]

Only the notebooks whose name contains one of the filters run (all without filters), so
part of the set can be refreshed alone.  The sources in notebooks/ stay without outputs; the
executed copies are committed, so a reader sees every table and plot without running
anything.  A notebook that fails leaves its previous executed copy in place.  Needs the
``notebooks`` extra; without it, one sentence names the install that fixes it.
"""
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gluon_seq.util.errors import UserError  # noqa: E402
from gluon_seq.serving.extras import require  # noqa: E402

NEEDS = ("papermill", "nbformat", "ipykernel")  # ipykernel: the "python3" kernel papermill runs
SOURCES = ROOT / "notebooks"
TARGET = SOURCES / "executed"
# Links relative to notebooks/ in the sources point one folder further up from executed/.
RELATIVE_LINK = re.compile(r"\]\(\.\./")


def selected(filters, folder: Path = SOURCES):
    """The source notebooks whose name contains one of ``filters`` (all for none)."""
    notebooks = sorted(folder.glob("*.ipynb"))
    return [n for n in notebooks if not filters or any(f in n.stem for f in filters)]


def tidy(notebook: dict) -> dict:
    """An executed notebook as committed: links fixed for its folder, no timing metadata."""
    notebook["metadata"].pop("papermill", None)
    for cell in notebook["cells"]:
        cell["metadata"].pop("papermill", None)
        cell["metadata"].pop("execution", None)
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            cell["source"] = RELATIVE_LINK.sub("](../../", text)
    return notebook


def render(notebook: Path, papermill) -> float:
    """Execute ``notebook`` with the repository as working directory; seconds taken."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        executed = Path(scratch) / notebook.name
        papermill.execute_notebook(str(notebook), str(executed), cwd=str(ROOT),
                                   kernel_name="python3", progress_bar=False)
        result = tidy(json.loads(executed.read_text(encoding="utf-8")))
    TARGET.mkdir(exist_ok=True)
    (TARGET / notebook.name).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    return time.perf_counter() - start


def main(filters) -> int:
    try:
        papermill = [require(module, "notebooks") for module in NEEDS][0]
    except UserError as err:
        print(err, file=sys.stderr)
        return 2
    notebooks = selected(filters)
    if not notebooks:
        print(f"no notebook in {SOURCES} matches {' '.join(filters)}", file=sys.stderr)
        return 2
    for notebook in notebooks:
        print(f"executing {notebook.name}", flush=True)
        seconds = render(notebook, papermill)
        size = (TARGET / notebook.name).stat().st_size
        print(f"  {seconds:.0f} s, {size / 1024:.0f} KB -> "
              f"{(TARGET / notebook.name).relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
