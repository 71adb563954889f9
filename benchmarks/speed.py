"""LSTM and GRU speed on this CPU: our two kernels, stock Gluon layers and PyTorch, side by side.

    .venv/bin/pip install torch==2.13.0          # optional, benchmark only
    .venv/bin/python benchmarks/speed.py [--cell lstm|gru] [--shapes arithmetic ptb] [--reps 5]
                                         [--only "ours fused" ... [--profile]] [--no-write]

Every contender is timed in the same process, repetitions alternating between
contenders (each repetition starting with the next one) so that load on a
shared machine hits them alike; the median of the repetitions is reported.
Ratios against PyTorch (``nn.LSTM`` or ``nn.GRU``, the same threads) are the
headline.  The machine's limit is measured at the start of the run
(``benchmarks/limit.py``: the best of a clean-environment numpy sgemm, PyTorch's
matmul and the theoretical FMA peak) and achieved GFLOP/s are given as a share
of it; a share above 100 % stops the run.  Each contender's CPU-seconds per
wall-second are measured over its timed calls: contenders of one shape and mode
run the same threads, so if those figures differ by more than 10 % (one was
starved, or spun extra threads) the run stops and writes nothing.  ``--cell gru``
writes its own section (``speed-gru``); its "ours fused, unpadded" row is the
fused GRU without the padding of its units to a multiple of 16
(gluon_seq/rnn/fused.py), to show what that buys.

FLOPs counted: per token, a layer of G gates (LSTM 4, GRU 3) does
G*H * (C + H) multiply-adds forward, i.e. 2GH(C+H) floating-point operations;
a training step counts as 3x forward (forward, input gradient, weight gradient).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gluon_seq  # noqa: E402,F401  (sets OMP_NUM_THREADS before mxnet loads)
import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402

from gluon_seq.rnn import fused as fused_kernel, make_layer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import limit as machine_limit  # noqa: E402  (benchmarks/limit.py)
from machine import SAME_CPU, Machine, unequal_cpu  # noqa: E402  (benchmarks/machine.py)
from report import write_section  # noqa: E402  (benchmarks/report.py)

# (T, B, input, hidden, layers)
SHAPES = {
    "ptb": (30, 20, 500, 500, 2),
    "arithmetic": (8, 32, 13, 32, 1),
    "count-ones": (20, 1000, 1, 24, 1),
    "imdb": (500, 128, 32, 100, 1),
}
GATES = {"lstm": 4, "gru": 3}
NAMES = {"lstm": "LSTM", "gru": "GRU"}  # gluon.rnn.LSTM, LSTMCell, torch.nn.LSTM, ...
SECTIONS = {"speed": "## Speed against PyTorch and the sgemm limit (issue 6)",
            "speed-2threads": "### Two OpenMP threads",
            "speed-gru": "### GRU against PyTorch nn.GRU"}


def layer_flops(T, B, C, H, L, gates: int = 4) -> float:
    total, inp = 0.0, C
    for _ in range(L):
        total += 2.0 * gates * H * (inp + H) * T * B
        inp = H
    return total


class _Cells(gluon.HybridBlock):
    """Stock unfused baseline: HybridSequentialRNNCell of LSTMCell or GRUCell, unrolled."""

    def __init__(self, cell, T, C, H, L, **kwargs):
        super().__init__(**kwargs)
        self._T = T
        with self.name_scope():
            self.cells = gluon.rnn.HybridSequentialRNNCell()
            for layer in range(L):
                self.cells.add(getattr(gluon.rnn, f"{NAMES[cell]}Cell")(
                    H, input_size=C if layer == 0 else H))

    def hybrid_forward(self, F, x, *states):
        out, _ = self.cells.unroll(self._T, x, begin_state=list(states), layout="TNC",
                                   merge_outputs=True)
        return out


class _Layer(gluon.HybridBlock):
    """One recurrent layer, ours or stock, called as ``layer(x, states)``."""

    def __init__(self, make, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.layer = make()

    def hybrid_forward(self, F, x, *states):
        out, _ = self.layer(x, list(states))
        return out


def _block(kind, cell, shape, batch):
    """The MXNet contender ``kind`` and its begin states."""
    T, _, C, H, L = shape
    states = [mx.nd.zeros((L, batch, H)) for _ in range(2 if cell == "lstm" else 1)]
    if kind.startswith("ours "):  # "ours fused", "ours unfused, stock ops", ...
        kernel = kind.split()[1].rstrip(",")
        ops = False if "stock ops" in kind else None
        return _Layer(lambda: make_layer(cell, H, num_layers=L, kernel=kernel, input_size=C,
                                         length=T, compiled_ops=ops)), states
    if kind.startswith("gluon.rnn."):
        return _Layer(lambda: getattr(gluon.rnn, NAMES[cell])(H, L, input_size=C)), states
    return _Cells(cell, T, C, H, L), [mx.nd.zeros((batch, H)) for _ in range(len(states) * L)]


def mxnet_contender(kind, cell, shape, batch):
    block, states = _block(kind, cell, shape, batch)
    block.initialize(mx.init.Xavier())
    block.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(block.collect_params(), "sgd", {"learning_rate": 1e-3})
    x = mx.nd.random.uniform(shape=(shape[0], batch, shape[2]))

    def train():
        with autograd.record():
            loss = block(x, *states).mean()
        loss.backward()
        trainer.step(1)
        loss.wait_to_read()

    def infer():
        block(x, *states).wait_to_read()

    if "unpadded" in kind:  # trace the graph now, with the padding off
        multiple, fused_kernel.GRU_UNITS_MULTIPLE = fused_kernel.GRU_UNITS_MULTIPLE, 1
        try:
            train()
        finally:
            fused_kernel.GRU_UNITS_MULTIPLE = multiple
    return train, infer


def torch_contender(cell, shape, batch):
    import torch

    T, _, C, H, L = shape
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = getattr(torch.nn, NAMES[cell])(C, H, L)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.rand(T, batch, C)

    def train():
        optimizer.zero_grad()
        out, _ = model(x)
        out.mean().backward()
        optimizer.step()

    def infer():
        with torch.no_grad():
            model(x)

    return train, infer


def time_call(fn, min_seconds: float = 0.3) -> tuple:
    """(seconds per call, CPU-seconds per wall-second): warm up, then run until
    min_seconds have passed.  ``time.process_time`` counts every thread of the
    process, MXNet's engine workers and OpenMP's included."""
    fn()
    fn()
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and count >= 3:
            return elapsed / count, (time.process_time() - cpu) / elapsed


def kinds_for(cell: str):
    # "ours fused" and "ours unfused" are the layer as it runs by default on CPU,
    # with gluon_seq's compiled operators (gluon_seq.rnn.compiled_ops: the weight
    # packing, the cell step); ", stock ops" is the same kernel without them.
    kinds = ["ours fused", "ours fused, stock ops", "ours unfused", "ours unfused, stock ops",
             f"gluon.rnn.{NAMES[cell]}", f"{NAMES[cell]}Cell stack"]
    return kinds[:1] + ["ours fused, unpadded"] + kinds[1:] if cell == "gru" else kinds


def alternate(contenders, modes, reps: int):
    """(median seconds, CPU-seconds per wall-second) per (contender, mode), the
    repetitions alternating between contenders."""
    samples = {(k, m): [] for k in contenders for m in modes}
    order = list(contenders)
    for rep in range(reps):
        # Rotate who goes first: at IMDB's shape the first contender of a round
        # measured up to 1.5x slower, whichever it was.
        for k in order[rep % len(order):] + order[:rep % len(order)]:
            train, infer = contenders[k]
            for m in modes:
                samples[(k, m)].append(time_call(train if m == "train" else infer))
    return {key: (statistics.median(s for s, _ in values),
                  statistics.median(c for _, c in values)) for key, values in samples.items()}


def check_equal_cpu(measured, what: str) -> None:
    """Stop if contenders that run the same threads used unequal CPU per wall-second."""
    usage = {k: c for k, (_, c) in measured.items()}
    low, high = min(usage, key=usage.get), max(usage, key=usage.get)
    if unequal_cpu(usage.values()):
        raise SystemExit(
            f"{what}: contenders used unequal CPU ({high} {usage[high]:.2f}, {low} "
            f"{usage[low]:.2f} CPU-seconds per wall-second, more than {SAME_CPU - 1:.0%} apart): "
            "another job shared the cores or a contender ran extra threads; nothing written.")


def shape_rows(name, cell, reps, have_torch, limit, only=None, ratios=None):
    """The table rows of one shape: train and inference at its batch, inference at 1
    (``only``: just these contenders, for a profile; no ratio columns then).  Each
    measured seconds go into ``ratios[(name, batch label, mode, contender)]``."""
    T, B, C, H, L = shape = SHAPES[name]
    reference, lines = f"PyTorch nn.{NAMES[cell]}", []
    for batch, label in ((B, f"B={B}"), (1, "B=1 inference")):
        contenders = {k: mxnet_contender(k, cell, shape, batch) for k in kinds_for(cell)
                      if not only or k in only}
        if have_torch and (not only or reference in only):
            contenders[reference] = torch_contender(cell, shape, batch)
        if only:
            have_torch = reference in contenders
        modes = ("train", "infer") if batch == B else ("infer",)
        measured = alternate(contenders, modes, reps)
        seconds = {key: sec for key, (sec, _) in measured.items()}
        if ratios is not None:
            ratios.update({(name, label, m, k): sec for (k, m), sec in seconds.items()})
        flops = layer_flops(T, batch, C, H, L, GATES[cell])
        for m in modes:
            ref = seconds[(reference, m)] if have_torch else None
            for k in contenders:
                sec, cpu = measured[(k, m)]
                gflops = flops * (3 if m == "train" else 1) / sec / 1e9
                share = limit.share(gflops, f"{name} {label} {m} {k}")
                lines.append(f"| {name} {label} | {m} | {k} | {sec * 1e3:.2f} | "
                             f"{T * batch / sec:,.0f} | {gflops:.1f} | {share} | {cpu:.2f} | "
                             f"{f'{ref / sec:.2f}x' if ref else 'n/a'} | "
                             f"{_ratio(seconds, ('ours fused', m), sec)} |")
                print(lines[-1], flush=True)
            check_equal_cpu({k: v for (k, mode), v in measured.items() if mode == m},
                            f"{name} {label} {m}")
    return lines


def goals(seconds, cell: str) -> list:
    """The issue's speed goals, read from this run's own rows: met or not, per shape."""
    reference, out = f"PyTorch nn.{NAMES[cell]}", []
    checks = [("fused training >= 1.0x PyTorch", "train", "ours fused", reference, 1.0),
              ("unfused training >= 0.8x fused", "train", "ours unfused", "ours fused", 0.8),
              ("unfused inference >= 0.8x fused", "infer", "ours unfused", "ours fused", 0.8)]
    for what, mode, ours, against, target in checks:
        found = []
        for (shape, label, m, k), sec in seconds.items():
            other = seconds.get((shape, label, mode, against))
            if (m, k) == (mode, ours) and not label.startswith("B=1 ") and other:
                found.append((shape, other / sec))  # speed ratio: their time / ours
        if found:
            parts = ", ".join(f"{shape} {ratio:.2f}x{'' if ratio >= target else ' (short)'}"
                              for shape, ratio in found)
            met = all(ratio >= target for _, ratio in found)
            out.append(f"- {what}: {'**met**' if met else '**not met**'} ({parts}).")
    return out


def _ratio(seconds, key, sec) -> str:
    return f"{seconds[key] / sec:.2f}x" if key in seconds else "n/a"


def header(args, limit) -> list:
    threads = os.environ.get("OMP_NUM_THREADS")
    cell = "" if args.cell == "lstm" else f" --cell {args.cell}"
    section = "" if args.section == default_section(args.cell) else f" --section {args.section}"
    return [
        f"Measured {time.strftime('%Y-%m-%d')}, OMP_NUM_THREADS={threads}, {args.reps} "
        "alternating repetitions, median.",
        f"Command: `OMP_NUM_THREADS={threads} .venv/bin/python benchmarks/speed.py{cell} "
        f"--shapes {' '.join(args.shapes)} --reps {args.reps}{section}`",
        "",
        f"% of peak is against the {limit.describe()}.",
        "",
        "| shape | mode | contender | ms / batch | tokens/s | GFLOP/s | % of peak | "
        "CPU s / wall s | speed vs PyTorch | speed vs ours fused |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]


def default_section(cell: str) -> str:
    return "speed" if cell == "lstm" else f"speed-{cell}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm", choices=sorted(GATES))
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", nargs="+", default=None, metavar="CONTENDER",
                        help="time only these contenders (e.g. under DNNL_VERBOSE=1); implies "
                             "--no-write")
    parser.add_argument("--profile", action="store_true",
                        help="with --only: print MXNet's per-operator profile of the timed calls")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    parser.add_argument("--section", default=None,
                        help="BENCHMARKS.md section to write (default: speed, or speed-gru for "
                             "--cell gru; speed-2threads: the LSTM run with OMP_NUM_THREADS=2)")
    args = parser.parse_args()
    args.section = args.section or default_section(args.cell)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("torch not installed: PyTorch column skipped (pip install torch==2.13.0)")
    stamp = Machine.now()
    limit = machine_limit.measure()
    print(limit.describe(), flush=True)
    if args.only and args.profile:
        mx.profiler.set_config(profile_all=True, aggregate_stats=True,
                               filename=os.devnull)
        mx.profiler.set_state("run")
    seconds = {}
    lines = [line for name in args.shapes for line in
             shape_rows(name, args.cell, args.reps, have_torch, limit, args.only, seconds)]
    if args.only and args.profile:
        mx.profiler.set_state("stop")
        print(mx.profiler.dumps(format="table", sort_by="total"))
    summary = ["", "Goals, from the rows above:"] + goals(seconds, args.cell)
    text = "\n".join(header(args, limit) + lines + summary + ["", stamp.line()])
    if not args.no_write and not args.only:
        write_section(args.section, SECTIONS.get(args.section, f"### {args.section}"), text)


if __name__ == "__main__":
    main()
