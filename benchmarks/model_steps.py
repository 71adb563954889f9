"""End-to-end step time of every task's full model, fused vs unfused kernel.

    .venv/bin/python benchmarks/model_steps.py [--tasks ...] [--reps 3]

Each task's default model and batch size on one real training batch: a
training step (forward + backward) and an inference step, plus inference on
the batch's first example alone (the kind of call ``gluon-seq export
--rnn-backend auto-fast`` times to pick the kernel it exports; it times the
task's example input, and keeps PTB fused), best of ``--reps`` after one
warm-up, measured in one process with the kernels alternating.
Tasks whose data is not on the machine are skipped and say so.  The table goes
into BENCHMARKS.md between the ``model-steps`` markers.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import mxnet as mx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Machine  # noqa: E402  (benchmarks/machine.py)
from report import write_section  # noqa: E402  (benchmarks/report.py)

from gluon_seq import tasks  # noqa: E402
from gluon_seq.util.errors import UserError  # noqa: E402
from gluon_seq.data import Batch  # noqa: E402
from gluon_seq.training.loop import time_steps  # noqa: E402


def measure(name: str, reps: int) -> dict:
    task_cls = tasks.get(name)
    task = task_cls()
    task.prepare()
    batch_size = task_cls.defaults["batch_size"]
    batch = next(iter(task.train_batches(0, batch_size)))
    single = Batch(tuple(a[:1] for a in batch.inputs), batch.label[:1])
    row = {"task": name, "batch": batch.size, "shape": tuple(batch.inputs[0].shape)}
    for rep in range(reps):  # alternate the kernels, so drifting load hits both alike
        for backend in ("fused", "unfused"):
            for mode in ("train", "infer", "one"):
                seconds = step_seconds(task, backend, single if mode == "one" else batch,
                                     [mx.cpu()], repeats=5, train=mode == "train")
                key = f"{backend}_{mode}"
                row[key] = min(row.get(key, float("inf")), seconds)
    return row


def table(rows, skipped, reps: int) -> str:
    threads = os.environ.get("OMP_NUM_THREADS")
    lines = [
        f"Best of {reps} alternating repetitions.",
        f"Command: `{f'OMP_NUM_THREADS={threads} ' if threads else ''}.venv/bin/python "
        f"benchmarks/model_steps.py --reps {reps}`",
        "",
        "| task (default model) | batch, input shape | train step fused | train step unfused | "
        "unfused time / fused time | inference fused | inference unfused | unfused time / fused time "
        "| batch 1 fused | batch 1 unfused | faster at batch 1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['batch']}, {r['shape']} | {r['fused_train'] * 1e3:.1f} ms | "
            f"{r['unfused_train'] * 1e3:.1f} ms | {r['unfused_train'] / r['fused_train']:.2f}x | "
            f"{r['fused_infer'] * 1e3:.1f} ms | {r['unfused_infer'] * 1e3:.1f} ms | "
            f"{r['unfused_infer'] / r['fused_infer']:.2f}x | {r['fused_one'] * 1e3:.2f} ms | "
            f"{r['unfused_one'] * 1e3:.2f} ms | "
            f"{'fused' if r['fused_one'] <= r['unfused_one'] else 'unfused'} |")
    for name, why in skipped:
        lines.append(f"| {name} | skipped: {why} | | | | | | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=tasks.names())
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    rows, skipped, stamp = [], [], Machine.now()
    for name in args.tasks:
        try:
            rows.append(measure(name, args.reps))
        except UserError as err:
            skipped.append((name, str(err)))
        print(rows[-1] if rows and rows[-1]["task"] == name else skipped[-1], flush=True)
    text = table(rows, skipped, args.reps) + "\n\n" + stamp.line()
    print(text)
    if not args.no_write:
        write_section("model-steps", "## End-to-end model steps (issue 6)", text)


if __name__ == "__main__":
    main()
