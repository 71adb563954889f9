"""LSTM, GRU or a plain RNN: the count-ones tutorial's closing suggestion, measured.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cells.py [--tasks count-ones arithmetic]
                                                           [--cells lstm gru rnn_tanh]
                                                           [--kernel fused] [--no-write]

Each task trains once per cell, one run after another, in this process, with
the task's own configuration and only the cell changed: count-ones with the
``fast`` preset (LSTM/GRU/RNN of 24 units, batch 50, Adam 1e-2, clip 5, 60
epochs), tested on all 1,038,576 strings it never trained on; the arithmetic
seq2seq with its defaults (32 units, 60 epochs), tested on 10,000 fresh
expressions.  Training goes through the public Python API: a
``gluon_seq.rnn.LayerFactory(kernel, cell=...)`` builds the task's model, and
``gluon_seq.training.loop.Fitter`` trains it into a temporary run folder.  The
epochs and train seconds to the target come from the run's ``log.csv``
(validation metric each epoch, cumulative epoch times, evaluation excluded).

The table goes into BENCHMARKS.md between the ``cells`` markers, stamped with
the machine it ran on; the numbers also go to ``benchmarks/results/cells.json``,
which notebook 02 plots.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gluon_seq  # noqa: E402,F401  (sets OMP_NUM_THREADS before mxnet loads)
import mxnet as mx  # noqa: E402

from gluon_seq.rnn import LayerFactory, cell_of  # noqa: E402
from gluon_seq.training.run_folder import BEST_PARAMS, LOG_FILE, RunConfig, load_params, make_task  # noqa: E402
from gluon_seq.util.runtime import seed_everything  # noqa: E402
from gluon_seq.training.loop import Fitter, final_metrics  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Machine  # noqa: E402  (benchmarks/machine.py)
from report import write_section  # noqa: E402  (benchmarks/report.py)

RESULTS = Path(__file__).resolve().parent / "results" / "cells.json"
# task -> (preset, validation target, what the target means)
TASKS = {
    "count-ones": ("fast", 0.999, "≤ 0.1 % error"),
    "arithmetic": (None, 0.995, "≥ 99.5 % exact match"),
}


def parameters(block) -> int:
    return int(sum(p.data().size for p in block.collect_params().values()))


def recurrent_parameters(model) -> int:
    return sum(parameters(child) for child in model._children.values()
               if hasattr(child, "cell"))


def reached(log_csv: Path, target: float):
    """(epoch, cumulative train seconds) when validation first reached ``target``, or None."""
    with open(log_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    column = next(k for k in rows[0] if k.startswith("valid_"))
    elapsed = 0.0
    for row in rows:
        elapsed += float(row["seconds"])
        if float(row[column]) >= target:
            return int(row["epoch"]), elapsed
    return None


def train(task_name: str, cell: str, kernel: str, folder: Path, epochs=None) -> dict:
    """One run: the task's configuration (``epochs`` None: its own), the model
    built with ``cell``; its results."""
    preset, target, _ = TASKS[task_name]
    config = RunConfig.for_task(task_name, preset=preset, rnn_backend=kernel, epochs=epochs)
    contexts = [mx.cpu()]
    folder.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    task = make_task(config)
    task.prepare()
    factory = LayerFactory(kernel, ctx=contexts[0], cell=cell)
    model = task.build_model(factory)
    model.initialize(task.initializer(), ctx=contexts)
    model.hybridize(static_alloc=True, static_shape=True)
    start = time.perf_counter()
    progress = Fitter(task, model, config, folder, contexts, log=print).fit()
    best = task.build_model(factory)
    load_params(best, folder / BEST_PARAMS, contexts, task.name)
    best.hybridize(static_alloc=True, static_shape=True)
    metrics = final_metrics(best, task, config, contexts, progress, kernel)
    return {"task": task_name, "cell": cell_of(best), "kernel": kernel, "target": target,
            "reached": reached(folder / LOG_FILE, target), "epochs": progress["epochs_done"],
            "best_epoch": progress["best_epoch"], "train_seconds": progress["train_seconds"],
            "wall_seconds": time.perf_counter() - start, "metric": metrics["metric"],
            "test": metrics["value"], "test_split": metrics["split"], "splits": metrics["splits"],
            "parameters": parameters(best), "recurrent_parameters": recurrent_parameters(best)}


def _test_column(r) -> str:
    if r["task"] == "count-ones":
        return f"{1 - r['test']:.3%} error"
    heldout = r["splits"].get("heldout", {}).get(r["metric"])
    return f"{r['test']:.2%} exact match" + (f" (held-out {heldout:.1%})" if heldout else "")


def table(rows, command: str, stamp: Machine) -> str:
    lines = [f"Command: `{command}`", "",
             "| task | cell | test (all unseen strings / 10,000 fresh expressions) | target "
             "(validation) | reached at epoch | train seconds to target | epochs | train seconds "
             "(all epochs) | parameters (recurrent layers) |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        epoch, seconds = r["reached"] or ("not reached", None)
        lines.append(
            f"| {r['task']} | {r['cell']} | {_test_column(r)} | {TASKS[r['task']][2]} | {epoch} | "
            f"{'-' if seconds is None else f'{seconds:.0f}'} | {r['epochs']} | "
            f"{r['train_seconds']:.0f} | {r['parameters']:,} ({r['recurrent_parameters']:,}) |")
    return "\n".join(lines + ["", stamp.line()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn_tanh"])
    parser.add_argument("--kernel", default="fused", choices=["fused", "unfused"])
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the tasks' epochs (a quick check; the table's figures "
                             "are for their own)")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave BENCHMARKS.md and the results file")
    args = parser.parse_args()
    command = (f"OMP_NUM_THREADS={Machine.now().threads} .venv/bin/python benchmarks/cells.py "
               f"--tasks {' '.join(args.tasks)} --cells {' '.join(args.cells)} "
               f"--kernel {args.kernel}" + (f" --epochs {args.epochs}" if args.epochs else ""))
    stamp, rows = Machine.now(), []
    with tempfile.TemporaryDirectory() as tmp:
        for task_name in args.tasks:
            for cell in args.cells:
                rows.append(train(task_name, cell, args.kernel, Path(tmp) / f"{task_name}-{cell}",
                                  args.epochs))
                print(json.dumps(rows[-1]), flush=True)
    text = table(rows, command, stamp)
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"command": command, "machine": stamp.line(),
                                       "runs": rows}, indent=2) + "\n")
        write_section("cells", "## LSTM, GRU or a plain RNN (the count-ones tutorial's question)",
                      text)


if __name__ == "__main__":
    main()
