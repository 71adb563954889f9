"""`make run` on a fresh clone, timed: the README's first command, as a new user meets it.

    .venv/bin/python benchmarks/make_run.py [--keep] [--no-write]

Clones HEAD (uncommitted changes are not in it) into a temporary folder and runs
``make run`` there twice: the first builds ``.venv``, trains the arithmetic model with
``--rnn-backend auto-fast``, evaluates, exports and predicts; the second resumes the
finished run and only re-evaluates.  The venv build's time is the first run's time up
to the training's first log line.  ``OMP_NUM_THREADS`` is passed through as set.
"""
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness import ROOT, Bench


def timed_make_run(clone: Path) -> dict:
    """Run ``make run`` in ``clone``; wall seconds, and seconds until training began."""
    start, began, lines = time.perf_counter(), None, []
    with subprocess.Popen(["make", "run"], cwd=clone, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as child:
        for line in child.stdout:
            lines.append(line.rstrip("\n"))
            if began is None and "gluon_seq train arithmetic" in line:
                began = time.perf_counter() - start
    if child.returncode:
        raise SystemExit("make run failed in the clone:\n" + "\n".join(lines[-20:]))
    return {"wall": time.perf_counter() - start, "setup": began or 0.0, "output": lines}


def predictions(output) -> list:
    return [line for line in output if re.fullmatch(r"\S+ = \S+", line.strip())]


def table(first: dict, second: dict, metrics: dict, command: str) -> str:
    return "\n".join([
        f"Command: `{command}` (a clone of HEAD in a temporary folder; `make run` twice)", "",
        "| run | wall time | of which venv build | kernel auto-fast chose | exact match, fresh "
        "samples | exact match, 200 held-out expressions | predictions from the export |",
        "|---|---:|---:|---|---:|---:|---|",
        f"| first (fresh clone: builds .venv, trains, evaluates, exports, predicts) | "
        f"{first['wall']:.0f} s | {first['setup']:.0f} s | {metrics['rnn_backend']} | "
        f"{100 * metrics['splits']['fresh']['exact_match']:.2f} % | "
        f"{100 * metrics['splits']['heldout']['exact_match']:.2f} % | "
        f"{', '.join(predictions(first['output'])) or '-'} |",
        f"| second (resumes the finished run: re-evaluates, exports, predicts) | "
        f"{second['wall']:.0f} s | - | {metrics['rnn_backend']} | | | "
        f"{', '.join(predictions(second['output'])) or '-'} |"])


def main() -> None:
    bench = Bench(__doc__, __file__, "make-run")
    bench.parser.add_argument("--keep", action="store_true",
                              help="leave the clone (its path is printed)")
    args = bench.parse()
    work = Path(tempfile.mkdtemp(prefix="gluon_seq_make_run_"))
    try:
        clone = work / "gluon_seq"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        first = timed_make_run(clone)
        second = timed_make_run(clone)
        metrics = json.loads((clone / "runs" / "arithmetic" / "metrics.json").read_text())
    finally:
        if args.keep:
            print(f"clone kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    bench.finish(table(first, second, metrics, bench.command(
        [a for a in bench.argv if a != "--keep"])))


if __name__ == "__main__":
    main()
