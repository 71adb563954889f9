"""LSTM, GRU or a plain RNN: the count-ones tutorial's closing suggestion, measured.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cells.py [--tasks count-ones arithmetic]
                                                           [--cells lstm gru rnn_tanh]
                                                           [--kernel fused] [--no-write]

Each task trains once per cell through ``gluon_seq.train`` with its own configuration and
only the cell changed: count-ones with the ``fast`` preset, tested on all 1,038,576
strings it never trained on; the arithmetic seq2seq with its defaults, tested on 10,000
fresh expressions.  Epochs and train seconds to the target come from the run's
``log.csv``, parameter counts from its best checkpoint.  The numbers also go to
``benchmarks/results/cells.json``, which notebook 02 plots.
"""
import json
import re
import tempfile
import time
from pathlib import Path

from gluon_seq import RunConfig, train  # first: it sets OMP_NUM_THREADS before mxnet loads
import mxnet as mx
from harness import Bench, reached

RESULTS = Path(__file__).resolve().parent / "results" / "cells.json"
# task -> (preset, validation target, what the target means)
TASKS = {
    "count-ones": ("fast", 0.999, "≤ 0.1 % error"),
    "arithmetic": (None, 0.995, "≥ 99.5 % exact match"),
}
# A recurrent layer's weights, as gluon.rnn names them: l0_i2h_weight, r1_h2h_bias, ...
RECURRENT = re.compile(r"(^|[._])[lr]\d+_[ih]2h_(weight|bias)$")


def run(task: str, cell: str, kernel: str, folder: Path, epochs=None) -> dict:
    """One run: the task's configuration (``epochs`` None: its own) with ``cell``."""
    preset, target, _ = TASKS[task]
    config = RunConfig.for_task(task, preset=preset, cell=cell, rnn_backend=kernel,
                                epochs=epochs)
    start = time.perf_counter()
    metrics = train(config, folder, log=print)
    wall = time.perf_counter() - start
    sizes = {name: array.size for name, array in mx.nd.load(str(folder / "checkpoint.params"))
             .items()}
    return {"task": task, "cell": cell, "kernel": metrics["rnn_backend"], "target": target,
            "reached": reached(folder / "log.csv", target), "epochs": metrics["epochs"],
            "best_epoch": metrics["best_epoch"], "train_seconds": metrics["train_seconds"],
            "wall_seconds": wall, "metric": metrics["metric"], "test": metrics["value"],
            "test_split": metrics["split"], "splits": metrics["splits"],
            "parameters": sum(sizes.values()),
            "recurrent_parameters": sum(n for name, n in sizes.items() if RECURRENT.search(name))}


def table_row(r: dict) -> str:
    if r["task"] == "count-ones":
        test = f"{1 - r['test']:.3%} error"
    else:
        heldout = r["splits"].get("heldout", {}).get(r["metric"])
        test = f"{r['test']:.2%} exact match" + (f" (held-out {heldout:.1%})" if heldout else "")
    epoch, seconds = r["reached"] or ("not reached", None)
    return (f"| {r['task']} | {r['cell']} | {test} | {TASKS[r['task']][2]} | {epoch} | "
            f"{'-' if seconds is None else f'{seconds:.0f}'} | {r['epochs']} | "
            f"{r['train_seconds']:.0f} | {r['parameters']:,} ({r['recurrent_parameters']:,}) |")


def main() -> None:
    bench = Bench(__doc__, __file__, "cells")
    bench.parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    bench.parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn_tanh"])
    bench.parser.add_argument("--kernel", default="fused", choices=["fused", "unfused"])
    bench.parser.add_argument("--epochs", type=int, default=None,
                              help="override the tasks' epochs (a quick check; the table's "
                                   "figures are for their own)")
    args = bench.parse()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(task, cell, args.kernel, Path(tmp) / f"{task}-{cell}", args.epochs)
                for task in args.tasks for cell in args.cells]
    command = bench.command()
    bench.finish("\n".join([
        f"Command: `{command}`", "",
        "| task | cell | test (all unseen strings / 10,000 fresh expressions) | target "
        "(validation) | reached at epoch | train seconds to target | epochs | train seconds "
        "(all epochs) | parameters (recurrent layers) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|", *map(table_row, rows)]))
    if not args.no_write:  # the --no-write run leaves the results file as well
        RESULTS.write_text(json.dumps({"command": command, "machine": bench.stamp.line(),
                                       "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
