"""LSTM and GRU speed on this CPU: our two kernels, stock Gluon layers and PyTorch, side by side.

    .venv/bin/pip install torch==2.13.0          # optional, benchmark only
    .venv/bin/python benchmarks/speed.py [--cell lstm|gru] [--shapes arithmetic ptb] [--reps 5]
                                         [--only "ours fused" ... [--profile]] [--no-write]

The contenders race in one process (``harness.race``); the median of the repetitions
is reported, and ratios against PyTorch (same threads) are the headline.  A ratio is a
claim only when two runs minutes apart agree: every shape is measured once per pass
over all shapes, and the passes go on (``--max-runs``) until a shape's last two runs
give our kernels' ratios (to PyTorch, and unfused to fused) within 10 % of each other.
The table shows the last run; a ratio whose last two runs disagreed is said to, and
meets a goal only when both runs clear its threshold.  GFLOP/s are a share of the
machine's limit, measured at the start (``limit.py``); a share above 100 % stops the
run, as do contenders whose CPU-seconds per wall-second differ by more than 10 % (one
was starved, or spun extra threads).
glibc malloc is told to keep freed memory (``harness.steady_malloc``): left to itself it
sometimes hands PyTorch's large buffers back to the kernel after each call, which
doubled PyTorch's count-ones step in some runs and not in others.
``--cell gru`` writes its own section.  The "ours fused, unpadded" rows are the fused
layer without the padding of a narrow layer's units to a multiple of 16
(gluon_seq/rnn/fused.py), to show what that buys.  The contenders and their FLOPs are
in ``contenders.py``; a training step counts as 3x forward.
"""
from __future__ import annotations

import statistics

import gluon_seq  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
import mxnet as mx

import limit as machine_limit
from contenders import (GATES, HAVE_TORCH, NAMES, SHAPES, kinds_for, layer_flops,
                        mxnet_contender, torch_contender)
from harness import Bench, check_equal_cpu, profile_file, race, steady_malloc



def shape_rows(name, cell, reps, have_torch, limit, only=None, ratios=None):
    """The table rows of one shape: train and inference at its batch, inference at 1
    (``only``: just these contenders; a ratio column without its reference says n/a).  Each
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
        measured = {}
        for m in modes:  # each mode's contenders race each other: train, then inference
            raced = race({k: fns[m == "infer"] for k, fns in contenders.items()}, reps, 0.3)
            measured.update({(k, m): (statistics.median(r["means"]), r["cpu"])
                             for k, r in raced.items()})
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
            check_equal_cpu({k: c for (k, mode), (_, c) in measured.items() if mode == m},
                            f"{name} {label} {m}")
    return lines


AGREE = 0.10  # two runs' ratios within this share of each other
CLAIMED = ("ours fused", "ours unfused")  # the kernels whose ratios the goals judge


def ratios(seconds, cell: str) -> dict:
    """(shape, label, mode, kernel, against) -> speed of each of our two kernels over
    ``against`` (PyTorch, and our fused kernel), from one run's seconds."""
    reference, out = f"PyTorch nn.{NAMES[cell]}", {}
    for against in (reference, "ours fused"):
        for (shape, label, mode, k), sec in seconds.items():
            other = seconds.get((shape, label, mode, against))
            if other and k in CLAIMED and k != against:
                out[(shape, label, mode, k, against)] = other / sec
    return out


def disagreements(first, second, cell: str) -> dict:
    """The ratios of two runs of one shape more than AGREE apart: their keys (as
    :func:`ratios` gives them), each with its (first, second) value."""
    a, b = ratios(first, cell), ratios(second, cell)
    return {key: (a[key], b[key]) for key in sorted(a.keys() & b.keys())
            if abs(b[key] / a[key] - 1) > AGREE}


def _disagreement(key, pair) -> str:
    _, label, mode, k, against = key
    return f"{k} vs {against}, {mode}, {label}: {pair[0]:.2f}x then {pair[1]:.2f}x"


def measure(args, limit) -> tuple:
    """(table lines, last run's seconds, {shape: runs}, {shape: disagreements}): each
    shape measured once a pass, until its last two runs agree or ``--max-runs``."""
    runs = {name: [] for name in args.shapes}
    pending, differ = list(args.shapes), {}
    for _ in range(max(args.max_runs, 1)):
        for name in pending:
            seconds = {}
            lines = shape_rows(name, args.cell, args.reps, HAVE_TORCH, limit, args.only, seconds)
            runs[name].append((lines, seconds))
            if len(runs[name]) > 1:
                differ[name] = disagreements(runs[name][-2][1], seconds, args.cell)
        pending = [n for n in pending if len(runs[n]) < 2 or differ[n]]
        if not pending or args.profile:
            break
    last = {k: v for name in args.shapes for k, v in runs[name][-1][1].items()}
    lines = [line for name in args.shapes for line in runs[name][-1][0]]
    return lines, last, {n: len(r) for n, r in runs.items()}, differ


def agreement(counts: dict, differ: dict) -> list:
    out = []
    for name, count in counts.items():
        if name not in differ:
            out.append(f"- {name}: measured once (no second run to agree with).")
        elif not differ[name]:
            out.append(f"- {name}: the last 2 of {count} runs agree within {AGREE:.0%}.")
        else:
            out.append(f"- {name}: {count} runs; these ratios of the last two did **not** "
                       f"agree within {AGREE:.0%} and are no claim: "
                       f"{'; '.join(_disagreement(*item) for item in differ[name].items())}.")
    return out


def goals(seconds, cell: str, unsettled=None) -> list:
    """The issue's speed goals, read from this run's own rows: met or not, per shape.
    An ``unsettled`` ratio (``{key: (first, second)}``, a :func:`ratios` key whose last two
    runs disagreed) is no claim of its value, but a goal's threshold holds for it when
    both runs clear it, and fails otherwise."""
    reference, out, unsettled = f"PyTorch nn.{NAMES[cell]}", [], unsettled or {}
    checks = [("fused training >= 1.0x PyTorch", "train", "ours fused", reference, 1.0),
              ("fused inference >= 1.0x PyTorch", "infer", "ours fused", reference, 1.0),
              ("unfused training >= 0.8x fused", "train", "ours unfused", "ours fused", 0.8),
              ("unfused inference >= 0.8x fused", "infer", "ours unfused", "ours fused", 0.8)]
    speeds = ratios(seconds, cell)
    for what, mode, ours, against, target in checks:
        found = [(key, unsettled.get(key, (ratio,))) for key, ratio in speeds.items()
                 if key[2:] == (mode, ours, against) and not key[1].startswith("B=1 ")]
        if found:
            parts = ", ".join(f"{key[0]} {runs[-1]:.2f}x" + _verdict(runs, target)
                              for key, runs in found)
            met = all(min(runs) >= target for _, runs in found)
            out.append(f"- {what}: {'**met**' if met else '**not met**'} ({parts}).")
    return out


def _verdict(runs, target) -> str:
    """'' or a bracket: short of ``target``, or the last two runs' disagreement."""
    if len(runs) == 1:
        return "" if runs[0] >= target else " (short)"
    cleared = "both clear it" if min(runs) >= target else "short"
    return f" (runs disagree: {runs[0]:.2f}x then {runs[1]:.2f}x; {cleared})"


def _ratio(seconds, key, sec) -> str:
    return f"{seconds[key] / sec:.2f}x" if key in seconds else "n/a"


def main() -> None:
    bench = Bench(__doc__, __file__, "speed")
    bench.parser.add_argument("--cell", default="lstm", choices=sorted(GATES))
    bench.parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    bench.parser.add_argument("--reps", type=int, default=5)
    bench.parser.add_argument("--max-runs", type=int, default=4,
                              help="runs of a shape at most, until its last two agree")
    bench.parser.add_argument("--only", nargs="+", default=None, metavar="CONTENDER",
                              help="time only these contenders (e.g. under DNNL_VERBOSE=1, or "
                                   "the headline three with two threads)")
    bench.parser.add_argument("--profile", action="store_true",
                              help="with --only: print MXNet's per-operator profile of the "
                                   "timed calls (implies --no-write)")
    bench.parser.add_argument("--section", default=None,
                              help="BENCHMARKS.md section to write (default: speed, or speed-gru "
                                   "for --cell gru; speed-2threads: the LSTM run with "
                                   "OMP_NUM_THREADS=2)")
    args = bench.parse()
    args.section = args.section or ("speed" if args.cell == "lstm" else f"speed-{args.cell}")
    args.no_write = args.no_write or args.profile
    if not HAVE_TORCH:
        print("torch not installed: PyTorch column skipped (pip install torch==2.13.0)")
    steady = steady_malloc()
    limit = machine_limit.measure()
    print(limit.describe(), flush=True)
    if args.only and args.profile:
        mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename=profile_file())
        mx.profiler.set_state("run")
    lines, seconds, counts, differ = measure(args, limit)
    if args.only and args.profile:
        mx.profiler.set_state("stop")
        print(mx.profiler.dumps(format="table", sort_by="total"))
    text = "\n".join([
        f"Command: `{bench.command()}` ({args.reps} alternating repetitions, median; the "
        "last of a shape's runs shown)", "",
        f"% of peak is against the {limit.describe()}.", "",
        "glibc malloc keeps freed memory for the whole run (`harness.steady_malloc`)" if steady
        else "malloc's thresholds left as they were (not glibc)", "",
        "| shape | mode | contender | ms / batch | tokens/s | GFLOP/s | % of peak | "
        "CPU s / wall s | speed vs PyTorch | speed vs ours fused |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|", *lines,
        "", "Runs minutes apart:", *agreement(counts, differ),
        "", "Goals, from the rows above:",
        *goals(seconds, args.cell, {k: pair for d in differ.values() for k, pair in d.items()})])
    bench.finish(text, args.section)


if __name__ == "__main__":
    main()
