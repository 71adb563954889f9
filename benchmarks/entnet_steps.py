"""EntNet's training step on the bAbI tasks with long stories: every slot, only the used ones,
and batches bucketed by story length.

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/entnet_steps.py
        [--tasks 2 5 7 8 18] [--batches 60] [--no-write]

For each en-10k task, the entnet preset's model (d = 100, 20 blocks, 70 slots) takes
training steps (forward, backward, Adam) on the first ``--batches`` batches of epoch 0:

- "all slots": one graph of every slot, the model before skipping (``skip_empty=False``);
- "used slots": the same batches, each through a graph of only the slots its stories use
  (rounded up to a multiple of 8), what ``--model entnet`` trains with;
- "used slots, --bucket": batches of stories of about one length.

Each configuration runs its batches once to build its graphs, then again timed; the
table gives the mean per batch and the epoch it implies (the training batches of an epoch
times that mean).  The first two take the same batches from the same parameters, and the
table gives the largest difference between their losses over the timed pass.
"""
import gluon_seq  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
import itertools
import time

import mxnet as mx
from harness import Bench
from mxnet import autograd, gluon

from gluon_seq.models.entnet import EntNet
from gluon_seq.tasks import babi as babi_task
from gluon_seq.util.runtime import seed_everything

CONFIGS = (("all slots", False, False), ("used slots", True, False),
           ("used slots, --bucket", True, True))


def steps(qa: int, skip: bool, bucket: bool, batches: int):
    """(seconds per batch over the timed pass, its losses, batches an epoch)."""
    options = dict(babi_task.BabiTask.presets["entnet"], qa=qa, subset="en-10k", bucket=bucket)
    task = babi_task.BabiTask.for_options(babi_task.BabiTask.make_options(options))
    task.prepare()
    codec = task.codec()
    seed_everything(0)
    model = EntNet(codec.vocab_size, codec.memory_size, codec.sentence_length,
                   options["embed"], options["slots"], skip_empty=skip, prefix="entnet_")
    model.initialize(task.initializer())
    model.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(model.collect_params(), "adam", {"learning_rate": 0.0})
    data = [[mx.nd.array(a) for a in (*b.inputs, b.label)]
            for b in itertools.islice(task.train_batches(0, 32), batches)]
    losses = []
    for timed in (False, True):  # the first pass builds the graphs
        start = time.perf_counter()
        for story, question, label in data:
            with autograd.record():
                loss = task.loss(model(story, question), label).mean()
            loss.backward()
            trainer.step(1)  # a rate of 0 keeps the parameters: both passes see the same
            if timed:
                losses.append(loss)
        mx.nd.waitall()
    seconds = (time.perf_counter() - start) / len(data)
    return seconds, [x.asscalar() for x in losses], -(-len(task._split("train")[2]) // 32)


def main() -> None:
    bench = Bench(__doc__, __file__, "entnet-steps")
    bench.parser.add_argument("--tasks", nargs="+", type=int, default=[2, 5, 7, 8, 18])
    bench.parser.add_argument("--batches", type=int, default=60)
    args = bench.parse()
    rows = []
    for qa in args.tasks:
        found = {name: steps(qa, skip, bucket, args.batches) for name, skip, bucket in CONFIGS}
        full, _, count = found["all slots"]
        drift = max(abs(a - b) for a, b in zip(found["all slots"][1], found["used slots"][1]))
        cells = " | ".join(f"{1e3 * s:.0f} ms, {s * count:.0f} s ({full / s:.2f}x)"
                           for s, _, _ in found.values())
        rows.append(f"| QA{qa} | {count} | {cells} | {drift:.1e} |")
        print(rows[-1], flush=True)
    names = " | ".join(f"{name}: per batch, per epoch (speed-up)" for name, _, _ in CONFIGS)
    bench.finish("\n".join([
        f"Command: `{bench.command()}`; the entnet preset's model, en-10k, batches of 32, "
        f"the first {args.batches} batches of epoch 0 after a pass that builds the graphs.",
        "", f"| task | batches an epoch | {names} | largest loss difference, all vs used |",
        "|---|---:|---:|---:|---:|---:|", *rows]))


if __name__ == "__main__":
    main()
