"""The optimizer's update alone, with every tensor grouped (MXNet's multi-tensor kernels,
as gluon_seq trained before) against large tensors updated alone (what it does now).

    .venv/bin/python benchmarks/optimizer_update.py [--reps 20] [--no-write]

Each row is a task's model, built as ``gluon-seq train`` builds it, with random
gradients; one ``Trainer.step`` is timed (best of ``--reps``, the two ways alternating).
Both ways compute the same update (tests/test_optim.py).
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


def step_ms(trainer, params, alone_from: int, reps: int) -> float:
    """Best milliseconds of one ``trainer.step`` with ``optim.ALONE_FROM = alone_from``
    (set for the calls only)."""
    rule, optim.ALONE_FROM, best = optim.ALONE_FROM, alone_from, float("inf")
    try:
        for _ in range(reps):
            for p in params:  # as a backward pass leaves them; a step marks them used
                p.data()._fresh_grad = True
            mx.nd.waitall()
            start = time.perf_counter()
            trainer.step(1)
            mx.nd.waitall()
            best = min(best, time.perf_counter() - start)
    finally:
        optim.ALONE_FROM = rule
    return best * 1e3


def measure(task: str, preset, reps: int) -> str:
    config = RunConfig.for_task(task, preset=preset)
    model = build(config).model
    params = [p for p in model.collect_params().values() if p.grad_req != "null"]
    for p in params:
        p.grad()[:] = mx.nd.random.uniform(-1e-3, 1e-3, shape=p.shape)
    trainer = mx.gluon.Trainer(params, optimizer_name(config.optimizer),
                               {"learning_rate": 1e-6})
    alone, grouped = optim.ALONE_FROM, float("inf")
    times = {alone: float("inf"), grouped: float("inf")}
    step_ms(trainer, params, alone, 2)  # the trainer's states and kvstore are made on the first step
    for _ in range(2):  # alternating, so drifting load hits both alike
        for way in times:
            times[way] = min(times[way], step_ms(trainer, params, way, reps // 2))
    large = [p for p in params if p.data().size >= alone]
    return (f"| {task}{f' --preset {preset}' if preset else ''} | {config.optimizer} | "
            f"{sum(p.data().size for p in params):,} in {len(params)} | "
            f"{sum(p.data().size for p in large):,} in {len(large)} | {times[grouped]:.2f} | "
            f"{times[alone]:.2f} | {times[grouped] / times[alone]:.2f}x |")


def main() -> None:
    bench = Bench(__doc__, __file__, "optimizer-update")
    bench.parser.add_argument("--reps", type=int, default=20)
    args = bench.parse()
    lines = [f"Command: `{bench.command()}` (best of {args.reps} steps per way, alternating)",
             "", f"Tensors of {optim.ALONE_FROM:,} elements or more are updated alone.", "",
             "| model | optimizer | parameters in tensors | of them alone | every tensor "
             "grouped, ms | large alone, ms | speed-up |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += table_rows(MODELS, lambda model: measure(*model, args.reps), 7)
    bench.finish("\n".join(lines))


if __name__ == "__main__":
    main()
