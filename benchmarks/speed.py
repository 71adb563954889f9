"""LSTM speed on this CPU: our two kernels, stock Gluon layers and PyTorch, side by side.

    .venv/bin/pip install torch==2.13.0          # optional, benchmark only
    .venv/bin/python benchmarks/speed.py [--shapes arithmetic ptb] [--reps 5] [--no-write]

Every contender is timed in the same process, repetitions alternating between
contenders (each repetition starting with the next one) so that load on a
shared machine hits them alike; the median of the repetitions is reported.
Ratios against PyTorch are the headline.  The sgemm peak is measured in the
same run (numpy dot on a large square, and on the per-step recurrent shape),
and achieved GFLOP/s are given as a share of it.

FLOPs counted: per token, an LSTM layer does 4H * (C + H) multiply-adds
forward, i.e. 8H(C+H) floating-point operations; a training step counts as 3x
forward (forward, input gradient, weight gradient).
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
import numpy as np  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402

from gluon_seq.rnn import LSTM  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402  (benchmarks/report.py)

# (T, B, input, hidden, layers)
SHAPES = {
    "ptb": (30, 20, 500, 500, 2),
    "arithmetic": (8, 32, 13, 32, 1),
    "count-ones": (20, 1000, 1, 24, 1),
    "imdb": (500, 128, 32, 100, 1),
}


def lstm_flops(T, B, C, H, L) -> float:
    total, inp = 0.0, C
    for _ in range(L):
        total += 8.0 * H * (inp + H) * T * B
        inp = H
    return total


class _Cells(gluon.HybridBlock):
    """Stock unfused baseline: HybridSequentialRNNCell of LSTMCell, unrolled."""

    def __init__(self, T, C, H, L, **kwargs):
        super().__init__(**kwargs)
        self._T = T
        with self.name_scope():
            self.cells = gluon.rnn.HybridSequentialRNNCell()
            for layer in range(L):
                self.cells.add(gluon.rnn.LSTMCell(H, input_size=C if layer == 0 else H))

    def hybrid_forward(self, F, x, *states):
        out, _ = self.cells.unroll(self._T, x, begin_state=list(states), layout="TNC",
                                   merge_outputs=True)
        return out


class _Ours(gluon.HybridBlock):
    def __init__(self, backend, T, C, H, L, compiled_ops=None, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.lstm = LSTM(H, L, kernel=backend, input_size=C, length=T,
                             compiled_ops=compiled_ops)

    def hybrid_forward(self, F, x, h, c):
        out, _ = self.lstm(x, [h, c])
        return out


class _Stock(gluon.HybridBlock):
    def __init__(self, C, H, L, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.lstm = gluon.rnn.LSTM(H, L, input_size=C)

    def hybrid_forward(self, F, x, h, c):
        out, _ = self.lstm(x, [h, c])
        return out


def mxnet_contender(kind, shape, batch):
    T, _, C, H, L = shape
    if kind.startswith("ours "):  # "ours fused", "ours unfused, stock ops", ...
        backend = kind.split()[1].rstrip(",")
        block = _Ours(backend, T, C, H, L, compiled_ops=False if "stock ops" in kind else None)
        states = [mx.nd.zeros((L, batch, H))] * 2
    elif kind == "gluon.rnn.LSTM":
        block, states = _Stock(C, H, L), [mx.nd.zeros((L, batch, H))] * 2
    else:
        block, states = _Cells(T, C, H, L), [mx.nd.zeros((batch, H)) for _ in range(2 * L)]
    block.initialize(mx.init.Xavier())
    block.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(block.collect_params(), "sgd", {"learning_rate": 1e-3})
    x = mx.nd.random.uniform(shape=(T, batch, C))

    def train():
        with autograd.record():
            loss = block(x, *states).mean()
        loss.backward()
        trainer.step(1)
        loss.wait_to_read()

    def infer():
        block(x, *states).wait_to_read()

    return train, infer


def torch_contender(shape, batch):
    import torch

    T, _, C, H, L = shape
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = torch.nn.LSTM(C, H, L)
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


def time_call(fn, min_seconds: float = 0.3) -> float:
    """Seconds per call: warm up, then run until min_seconds have passed."""
    fn()
    fn()
    count, start = 0, time.perf_counter()
    while True:
        fn()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and count >= 3:
            return elapsed / count


def sgemm_peak(step_shape) -> dict:
    big = np.random.rand(2048, 2048).astype(np.float32)
    square = 2 * 2048 ** 3 / time_call(lambda: big @ big, 1.0)
    B, H = step_shape
    a = np.random.rand(B, H).astype(np.float32)
    w = np.random.rand(H, 4 * H).astype(np.float32)
    step = 2 * B * H * 4 * H / time_call(lambda: a @ w, 0.3)
    return {"square": square / 1e9, "step": step / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    parser.add_argument("--section", default="speed",
                        help="BENCHMARKS.md section to write (speed-2threads: the run with "
                             "OMP_NUM_THREADS=2)")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("torch not installed: PyTorch column skipped (pip install torch==2.13.0)")
    # "ours fused" and "ours unfused" are the layer as it runs by default on CPU,
    # with gluon_seq's compiled operators (gluon_seq.rnn.compiled_ops: the weight
    # packing, the cell step); ", stock ops" is the same kernel without them.
    kinds = ["ours fused", "ours fused, stock ops", "ours unfused", "ours unfused, stock ops",
             "gluon.rnn.LSTM", "LSTMCell stack"]
    lines = []
    for name in args.shapes:
        shape = SHAPES[name]
        T, B, C, H, L = shape
        peak = sgemm_peak((B, H))
        for batch, label in ((B, f"B={B}"), (1, "B=1 inference")):
            contenders = {k: mxnet_contender(k, shape, batch) for k in kinds}
            if have_torch:
                contenders["PyTorch nn.LSTM"] = torch_contender(shape, batch)
            modes = ("train", "infer") if batch == B else ("infer",)
            samples = {(k, m): [] for k in contenders for m in modes}
            order = list(contenders)
            for rep in range(args.reps):
                # Rotate who goes first: at IMDB's shape the first contender of a round
                # measured up to 1.5x slower, whichever it was.
                for k in order[rep % len(order):] + order[:rep % len(order)]:
                    train, infer = contenders[k]
                    for m in modes:
                        samples[(k, m)].append(time_call(train if m == "train" else infer))
            flops = lstm_flops(T, batch, C, H, L)
            for m in modes:
                ref = statistics.median(samples[("PyTorch nn.LSTM", m)]) if have_torch else None
                fused = statistics.median(samples[("ours fused", m)])
                for k in contenders:
                    sec = statistics.median(samples[(k, m)])
                    work = flops * (3 if m == "train" else 1)
                    gflops = work / sec / 1e9
                    ratio = f"{ref / sec:.2f}x" if ref else "n/a"
                    lines.append(f"| {name} {label} | {m} | {k} | {sec * 1e3:.2f} | "
                                 f"{T * batch / sec:,.0f} | {gflops:.1f} | "
                                 f"{100 * gflops / peak['square']:.0f} % | {ratio} | "
                                 f"{fused / sec:.2f}x |")
                    print(lines[-1], flush=True)
        lines.append(f"| {name} | sgemm peak | numpy | 2048² {peak['square']:.0f} GFLOP/s | "
                     f"step shape ({B}x{H})·({H}x{4 * H}) {peak['step']:.0f} GFLOP/s | | | | |")
        print(lines[-1], flush=True)
    header = [
        f"Measured {time.strftime('%Y-%m-%d')}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')}, {args.reps} alternating repetitions, median.",
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} .venv/bin/python "
        f"benchmarks/speed.py --shapes {' '.join(args.shapes)} --reps {args.reps}"
        f"{'' if args.section == 'speed' else ' --section ' + args.section}`",
        "",
        "| shape | mode | contender | ms / batch | tokens/s | GFLOP/s | % of sgemm peak | "
        "speed vs PyTorch | speed vs ours fused |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    text = "\n".join(header + lines)
    if not args.no_write:
        headings = {"speed": "## Speed against PyTorch and the sgemm limit (issue 6)",
                    "speed-2threads": "### Two OpenMP threads"}
        write_section(args.section, headings.get(args.section, f"### {args.section}"), text)

if __name__ == "__main__":
    main()
