"""End-to-end step time of every task's full model, fused vs unfused kernel.

    .venv/bin/python benchmarks/model_steps.py [--tasks ...] [--reps 3] [--no-write]

Each task's default model and batch size on one real training batch: a training step,
an inference step, and inference on the batch's first example alone (the kind of call
``gluon-seq export --rnn-backend auto-fast`` times), best of ``--reps`` with the kernels
alternating.  Tasks whose data is not on the machine are skipped and say so.
"""
import gluon_seq  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
import mxnet as mx
from harness import Bench, table_rows

from gluon_seq import tasks
from gluon_seq.data import Batch
from gluon_seq.rnn import LayerFactory
from gluon_seq.training.loop import step_seconds


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
                seconds = step_seconds(task, LayerFactory(backend),
                                       single if mode == "one" else batch, [mx.cpu()],
                                       repeats=5, train=mode == "train")
                key = f"{backend}_{mode}"
                row[key] = min(row.get(key, float("inf")), seconds)
    return row


def table_row(r: dict) -> str:
    return (f"| {r['task']} | {r['batch']}, {r['shape']} | {r['fused_train'] * 1e3:.1f} ms | "
            f"{r['unfused_train'] * 1e3:.1f} ms | {r['unfused_train'] / r['fused_train']:.2f}x | "
            f"{r['fused_infer'] * 1e3:.1f} ms | {r['unfused_infer'] * 1e3:.1f} ms | "
            f"{r['unfused_infer'] / r['fused_infer']:.2f}x | {r['fused_one'] * 1e3:.2f} ms | "
            f"{r['unfused_one'] * 1e3:.2f} ms | "
            f"{'fused' if r['fused_one'] <= r['unfused_one'] else 'unfused'} |")


def main() -> None:
    bench = Bench(__doc__, __file__, "model-steps")
    bench.parser.add_argument("--tasks", nargs="+", default=tasks.names())
    bench.parser.add_argument("--reps", type=int, default=3)
    args = bench.parse()
    lines = [f"Command: `{bench.command()}` (best of {args.reps} alternating repetitions)", "",
             "| task (default model) | batch, input shape | train step fused | train step "
             "unfused | unfused time / fused time | inference fused | inference unfused | "
             "unfused time / fused time | batch 1 fused | batch 1 unfused | faster at batch 1 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    lines += table_rows(args.tasks, lambda name: table_row(measure(name, args.reps)), 11)
    bench.finish("\n".join(lines))


if __name__ == "__main__":
    main()
