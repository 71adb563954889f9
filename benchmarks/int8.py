"""int8 against fp32: each run's export quantized, its test metric and its speed, both graphs.

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/int8.py RUN_DIR... [--seconds 2]

For each trained run folder: its best checkpoint is exported into a temporary folder and
quantized there as ``gluon-seq export RUN_DIR --quantize int8`` does (the run's own export
is left alone); the table has the headline test metric of the fp32 and the int8 graph,
and the p50 ms of a call of each through the mxnet runtime at 1, 20 and 64 rows of the
test split (the fp32 graph is the one the runtime picks without int8: compiled where
written), timed in interleaved rounds.  Written between the ``int8`` markers.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import gluon_seq  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
from gluon_seq.util.runtime import configure_serving_engine

configure_serving_engine()  # what `gluon-seq serve` runs with; before mxnet loads
import numpy as np  # noqa: E402

from harness import Bench, check_equal_cpu, race  # noqa: E402

from gluon_seq import RunConfig, UserError  # noqa: E402
from gluon_seq.exporting.quantize import quantize  # noqa: E402
from gluon_seq.serving.predictors import MXNetPredictor  # noqa: E402
from gluon_seq.training.run_folder import load_run  # noqa: E402
from gluon_seq.training.workflow import export_run  # noqa: E402

ROWS = (1, 20, 64)
ROUNDS = 5


def rows_of(task, count: int) -> list:
    """``count`` rows of the test split's first batch, repeated if it has fewer."""
    batch = next(iter(task.eval_batches(task.test_splits[0], max(ROWS))))
    take = np.resize(np.arange(batch.size), count)
    return [np.asarray(a, dtype=np.float32)[take] for a in batch.inputs]


def measure(run_dir: Path, root: Path, seconds: float) -> tuple:
    """(the table row, {row count: {graph: CPU-seconds per wall-second}})."""
    run = load_run(run_dir, ctx="cpu", with_data=True)
    folder = export_run(run_dir, folder=root / run_dir.name / "export", log=lambda line: None)
    scores = quantize(folder, run.task, run.config.batch_size, log=lambda line: None)
    fp32, int8 = MXNetPredictor(folder, graph="compiled" if (
        folder / "model-compiled-symbol.json").is_file() else "portable"), \
        MXNetPredictor(folder, graph="int8")
    cells, shares = [], {}
    for count in ROWS:
        arrays = rows_of(run.task, count)
        stats = race({"fp32": lambda: fp32.run(arrays), "int8": lambda: int8.run(arrays)},
                     ROUNDS, seconds / ROUNDS, warm_up=5)
        shares[count] = {k: s["cpu"] for k, s in stats.items()}
        ms = {k: float(np.percentile(s["times"], 50)) * 1e3 for k, s in stats.items()}
        cells.append(f"{ms['fp32']:.3f} / {ms['int8']:.3f} ({ms['fp32'] / ms['int8']:.2f}x)")
    metric = f"{run.task.test_splits[0]} {run.task.metric}"
    return (f"| `{run_dir}` ({run.task.name}) | {metric} | {scores['fp32']:.4f} | "
            f"{scores['int8']:.4f} | " + " | ".join(cells) + " |"), shares


def main(argv=None) -> None:
    bench = Bench(__doc__, __file__, "int8")
    bench.parser.add_argument("runs", nargs="+", type=Path)
    bench.parser.add_argument("--seconds", type=float, default=2.0,
                              help="timed seconds per graph and row count")
    args = bench.parse(argv)
    for run_dir in args.runs:  # every folder a run, before minutes of measuring the others
        try:
            RunConfig.load(run_dir)
        except UserError as err:
            bench.parser.error(str(err))
    with tempfile.TemporaryDirectory() as root:
        rows = []
        for run_dir in args.runs:
            row, shares = measure(run_dir, Path(root), args.seconds)
            rows.append(row)
            print(row, flush=True)
            for count, share in shares.items():
                check_equal_cpu(share, f"{run_dir} at {count} rows")
    bench.finish("\n".join([
        f"Command: `{bench.command()}`; p50 ms per call, fp32 / int8 (speed-up), "
        f"{ROUNDS} interleaved rounds.", "",
        "| run | metric | fp32 | int8 | " + " | ".join(f"{n} row{'s' * (n > 1)}, ms"
                                                      for n in ROWS) + " |",
        "|---|---|---:|---:|" + "---:|" * len(ROWS), *rows]))


if __name__ == "__main__":
    main()
