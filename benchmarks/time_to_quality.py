"""Time to quality: each task's training time until its validation metric first
reaches a target, per LSTM kernel, with the whole command's wall time, CPU time
and peak resident memory.

    .venv/bin/python benchmarks/time_to_quality.py [--tasks alphabet count-ones ...]
                                                   [--backends fused unfused]

Every run is the real CLI (``gluon-seq train TASK ...``) in a fresh process, so
peak memory is that process's own.  Train seconds to target come from the run's
``log.csv`` (cumulative epoch times, evaluation excluded).  The table goes into
BENCHMARKS.md between the ``time-to-quality`` markers.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
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

# Runs the training in a child and reports that child's CPU time and peak RSS.
_WRAPPER = ("import json, resource, subprocess, sys; "
            "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
            "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(json.dumps({'code': code, 'cpu': u.ru_utime + u.ru_stime, "
            "'rss_mb': u.ru_maxrss / 1024}))")


def run(task: str, backend: str, folder: Path) -> dict:
    arguments, target, _ = TASKS[task]
    command = [sys.executable, "-m", "gluon_seq", "train", *arguments, "--rnn-backend", backend,
               "--out", str(folder)]
    start = time.perf_counter()
    usage = json.loads(subprocess.run([sys.executable, "-c", _WRAPPER, *command], cwd=ROOT,
                                      check=True, capture_output=True, text=True).stdout)
    wall = time.perf_counter() - start
    if usage["code"]:
        raise SystemExit(f"{' '.join(command)} failed with status {usage['code']}")
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
            "test": metrics["value"], "metric": metrics["metric"], "wall": wall,
            "cpu": usage["cpu"], "rss_mb": usage["rss_mb"], "command": " ".join(command[2:])}


def table(rows) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'default')}, on the shared 2-core machine.",
        f"Command: `.venv/bin/python benchmarks/time_to_quality.py --tasks "
        f"{' '.join(dict.fromkeys(r['task'] for r in rows))} --backends "
        f"{' '.join(dict.fromkeys(r['backend'] for r in rows))}`",
        "",
        "| task | kernel | validation target | reached at epoch | train seconds to target | "
        "epochs run | test | whole command: wall s / CPU s | peak RSS | source's time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        epoch, seconds = r["reached"] or ("not reached", None)
        lines.append(
            f"| {r['task']} | {r['backend']} | {r['target']:.2%} | {epoch} | "
            f"{'-' if seconds is None else f'{seconds:.0f}'} | {r['epochs']} | "
            f"{r['test']:.2%} {r['metric']} | {r['wall']:.0f} / {r['cpu']:.0f} | "
            f"{r['rss_mb']:.0f} MB | {TASKS[r['task']][2]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["alphabet", "count-ones", "arithmetic"],
                        choices=sorted(TASKS))
    parser.add_argument("--backends", nargs="+", default=["fused", "unfused"])
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            for backend in args.backends:
                rows.append(run(task, backend, Path(tmp) / f"{task}-{backend}"))
                print(json.dumps(rows[-1]), flush=True)
    text = table(rows)
    print(text)
    if not args.no_write:
        write_section("time-to-quality", "## Time to quality (issue 6)", text)


if __name__ == "__main__":
    main()
