"""Time to quality: each task's training time until its validation metric first
reaches a target, per LSTM kernel, with the whole command's wall time, CPU time
and peak resident memory.

    .venv/bin/python benchmarks/time_to_quality.py [--tasks alphabet count-ones ...]
                                                   [--backends fused unfused]

The default runs every task with both kernels: 12 minutes of wall time in the
2026-11-25 table, 10 of them bAbI (120 epochs) and IMDB (3 epochs of 22,500
reviews), which is why they were once left out; ``--tasks alphabet count-ones
arithmetic`` is the two-minute check.  Every run is
the real CLI (``gluon-seq train TASK ...``) in a fresh process; peak memory is
that of its whole process tree (``benchmarks/process_tree.py``).  Train seconds
to target come from the run's ``log.csv`` (cumulative epoch times, evaluation
excluded).  The table goes into BENCHMARKS.md between the ``time-to-quality``
markers, stamped with the machine and its load at the start and the end.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Machine  # noqa: E402  (benchmarks/machine.py)
from process_tree import run_measured  # noqa: E402  (benchmarks/process_tree.py)
from report import write_section  # noqa: E402  (benchmarks/report.py)

ROOT = Path(__file__).resolve().parent.parent

# task -> (train arguments, validation target, source's reported time)
TASKS = {
    "arithmetic": (["arithmetic"], 0.995, "none reported"),
    "alphabet": (["alphabet"], 1.0, "500 epochs at batch 1 (Keras; no time given)"),
    "count-ones": (["count-ones", "--preset", "fast"], 0.999, "3-4 hours for 0.1 % error"),
    "sentiment": (["sentiment"], 0.8639, "about 200 s/epoch in Keras"),
    "babi": (["babi", "--preset", "read-story"], 0.995, "about 3 s/epoch x 120 epochs in Keras"),
}


def run(task: str, backend: str, folder: Path) -> dict:
    arguments, target, _ = TASKS[task]
    command = [sys.executable, "-m", "gluon_seq", "train", *arguments, "--rnn-backend", backend,
               "--out", str(folder)]
    usage = run_measured(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    if usage.code:
        raise SystemExit(f"{' '.join(command)} failed with status {usage.code}")
    metrics = json.loads((folder / "metrics.json").read_text())
    with open(folder / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    column = next(k for k in rows[0] if k.startswith("valid_"))
    elapsed, reached = 0.0, None
    for row in rows:
        elapsed += float(row["seconds"])
        if reached is None and float(row[column]) >= target:
            reached = (int(row["epoch"]), elapsed)
    return {"task": task, "backend": metrics["rnn_backend"], "target": target,
            "reached": reached, "epochs": metrics["epochs"], "train_seconds": metrics["train_seconds"],
            "test": metrics["value"], "metric": metrics["metric"], "wall": usage.wall,
            "cpu": usage.cpu, "rss_mb": usage.peak_mb, "command": " ".join(command[2:])}


def table(rows, args, stamp: Machine) -> str:
    lines = [
        f"Command: `OMP_NUM_THREADS={stamp.threads} .venv/bin/python "
        f"benchmarks/time_to_quality.py --tasks {' '.join(args.tasks)} --backends "
        f"{' '.join(args.backends)}`",
        "",
        "| task | kernel | validation target | reached at epoch | train seconds to target | "
        "epochs run | test | whole command: wall s / CPU s | peak RSS (process tree) | "
        "source's time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        epoch, seconds = r["reached"] or ("not reached", None)
        lines.append(
            f"| {r['task']} | {r['backend']} | {r['target']:.2%} | {epoch} | "
            f"{'-' if seconds is None else f'{seconds:.0f}'} | {r['epochs']} | "
            f"{r['test']:.2%} {r['metric']} | {r['wall']:.0f} / {r['cpu']:.0f} | "
            f"{r['rss_mb']:.0f} MB | {TASKS[r['task']][2]} |")
    return "\n".join(lines + ["", stamp.line()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=sorted(TASKS),
                        help="default: all (about 12 minutes; bAbI and IMDB take 10 of them)")
    parser.add_argument("--backends", nargs="+", default=["fused", "unfused"])
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    stamp, rows = Machine.now(), []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            for backend in args.backends:
                rows.append(run(task, backend, Path(tmp) / f"{task}-{backend}"))
                print(json.dumps(rows[-1]), flush=True)
    text = table(rows, args, stamp)
    print(text)
    if not args.no_write:
        write_section("time-to-quality", "## Time to quality (issue 6)", text)


if __name__ == "__main__":
    main()
