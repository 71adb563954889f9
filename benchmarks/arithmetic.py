"""Arithmetic seq2seq: accuracy and wall time of the default training, per kernel.

    .venv/bin/python benchmarks/arithmetic.py [--backends auto fused] [--epochs 60]

Runs the real CLI (``gluon-seq train arithmetic``) into a temporary folder for each
kernel, then rewrites the table between the markers in BENCHMARKS.md.  Wall time is
the whole command: start-up, training, evaluation and export.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Machine  # noqa: E402  (benchmarks/machine.py)
from report import write_section  # noqa: E402  (benchmarks/report.py)

ROOT = Path(__file__).resolve().parent.parent


def run(backend: str, epochs: int, folder: Path) -> dict:
    command = [sys.executable, "-m", "gluon_seq", "train", "arithmetic", "--rnn-backend", backend,
               "--epochs", str(epochs), "--out", str(folder)]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["wall_seconds"] = wall
    return metrics


def table(rows, epochs: int, stamp: Machine) -> str:
    threads = os.environ.get("OMP_NUM_THREADS")
    lines = [
        f"Command: `{f'OMP_NUM_THREADS={threads} ' if threads else ''}.venv/bin/python benchmarks/arithmetic.py --epochs {epochs} --backends "
        f"{' '.join(r['requested'] for r in rows)}`",
        "",
        "| kernel | epochs | best epoch | exact match, fresh samples | exact match, 200 held-out "
        "expressions | train seconds | wall seconds (whole command) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['requested']} ({r['rnn_backend']}) | {r['epochs']} | {r['best_epoch']} | "
                     f"{100 * r['splits']['fresh']['exact_match']:.2f} % | "
                     f"{100 * r['splits']['heldout']['exact_match']:.2f} % | "
                     f"{r['train_seconds']:.0f} | {r['wall_seconds']:.0f} |")
    return "\n".join(lines + ["", stamp.line()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["auto", "fused"])
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args()
    rows, stamp = [], Machine.now()
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            metrics = run(backend, args.epochs, Path(tmp) / backend)
            metrics["requested"] = backend
            rows.append(metrics)
            print(json.dumps(metrics))
    text = table(rows, args.epochs, stamp)
    print(text)
    write_section("arithmetic", "## Arithmetic seq2seq (issue 2)", text)


if __name__ == "__main__":
    main()
