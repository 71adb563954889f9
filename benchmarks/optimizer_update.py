"""The optimizer's update alone, three ways: every tensor grouped (MXNet's multi-tensor
kernels, as gluon_seq trained before 06fe942), large tensors alone through MXNet's
one-tensor kernels, and large tensors alone through gluon_seq's compiled update (what
it does now on a CPU).

    .venv/bin/python benchmarks/optimizer_update.py [--reps 20] [--no-write]

Each row is a task's model, built as ``gluon-seq train`` builds it, with random
gradients; one ``Trainer.step`` is timed (best of ``--reps``, the ways alternating).
Every way computes the same update (tests/test_optim.py).
"""
import gluon_seq  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
import time

import mxnet as mx
from harness import Bench, table_rows

from gluon_seq import RunConfig, build
from gluon_seq.training import optim
from gluon_seq.training.loop import optimizer_name

MODELS = (("ptb", "medium"), ("ptb", None), ("sentiment", None), ("babi", "entnet"),
          ("babi", "memn2n"), ("arithmetic", None))


# Each way's optimizer arguments (gluon_seq.training.optim's routing).
WAYS = {"grouped": {"alone_from": 2 ** 62}, "stock": {"compiled": False}, "compiled": {}}


def step_ms(trainer, params, reps: int) -> float:
    """Best milliseconds of one ``trainer.step``."""
    best = float("inf")
    for _ in range(reps):
        for p in params:  # as a backward pass leaves them; a step marks them used
            p.data()._fresh_grad = True
        mx.nd.waitall()
        start = time.perf_counter()
        trainer.step(1)
        mx.nd.waitall()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def measure(task: str, preset, reps: int) -> str:
    config = RunConfig.for_task(task, preset=preset)
    model = build(config).model
    params = [p for p in model.collect_params().values() if p.grad_req != "null"]
    for p in params:
        p.grad()[:] = mx.nd.random.uniform(-1e-3, 1e-3, shape=p.shape)
    trainers = {way: mx.gluon.Trainer(params, optimizer_name(config.optimizer),
                                      {"learning_rate": 1e-6, **arguments})
                for way, arguments in WAYS.items()}
    for trainer in trainers.values():  # the states and kvstore are made on the first step
        step_ms(trainer, params, 2)
    times = dict.fromkeys(WAYS, float("inf"))
    for _ in range(2):  # alternating, so drifting load hits every way alike
        for way, trainer in trainers.items():
            times[way] = min(times[way], step_ms(trainer, params, reps // 2))
    large = [p for p in params if p.data().size >= optim.ALONE_FROM]
    return (f"| {task}{f' --preset {preset}' if preset else ''} | {config.optimizer} | "
            f"{sum(p.data().size for p in params):,} in {len(params)} | "
            f"{sum(p.data().size for p in large):,} in {len(large)} | {times['grouped']:.2f} | "
            f"{times['stock']:.2f} | {times['compiled']:.2f} | "
            f"{times['grouped'] / times['compiled']:.2f}x |")


def main() -> None:
    bench = Bench(__doc__, __file__, "optimizer-update")
    bench.parser.add_argument("--reps", type=int, default=20)
    args = bench.parse()
    lines = [f"Command: `{bench.command()}` (best of {args.reps} steps per way, alternating)",
             "", f"Tensors of {optim.ALONE_FROM:,} elements or more are updated alone.", "",
             "| model | optimizer | parameters in tensors | of them alone | every tensor "
             "grouped, ms | large alone (MXNet's kernels), ms | large alone (compiled), ms "
             "| speed-up over grouped |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += table_rows(MODELS, lambda model: measure(*model, args.reps), 8)
    bench.finish("\n".join(lines))


if __name__ == "__main__":
    main()
