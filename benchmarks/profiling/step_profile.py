"""Where a step's time goes: oneDNN primitives, MXNet operators, PyTorch ops, per call.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.profiling.step_profile
        [--cases fused-lstm-ptb:train+infer unfused-lstm-arithmetic ...] [--calls 10] [--top 8]
        [--no-write]

A case is ``WHO-CELL-SHAPE[:MODES]``: WHO ``fused`` or ``unfused`` (our layer as
contenders.py builds it; ``_stock``: without the compiled operators) or ``torch``, CELL
``lstm`` or ``gru``, SHAPE one of contenders.py's SHAPES, MODES ``train``, ``infer`` or
``train+infer``.  Each pass runs in a fresh subprocess, every call ending in
``mx.nd.waitall()``: **plain** times the contender against its reference (PyTorch for
``fused``, ours fused for ``unfused``; the goal ratio comes from here); **DNNL_VERBOSE=1**
sums oneDNN's log per primitive kind (``dnnl_verbose.py``; the log slows the call, so its
shares are of this pass's own wall time); **MXNet profiler** with bulk execution off, so
each operator is its own entry.  A ``torch`` case is timed, then run under torch.profiler.
The section ends with one generated line per case: the ratio and, when the goal is not
met, the measured cause.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from . import dnnl_verbose
from ..contenders import HAVE_TORCH, NAMES, SHAPES, mxnet_contender, torch_contender
from ..harness import ROOT, Bench, mxnet_operators, steady_malloc

import mxnet as mx  # after contenders, which imports gluon_seq first (it sets the threads)

DEFAULT_CASES = ["fused-lstm-ptb:train+infer", "torch-lstm-ptb:train",
                 "fused-lstm-arithmetic:train", "torch-lstm-arithmetic:train",
                 "unfused-lstm-arithmetic:train", "unfused-lstm-imdb:train",
                 "fused-gru-ptb:train", "fused-lstm-count-ones:train",
                 "torch-lstm-count-ones:train"]
RESULT = "@@profile-result"
VERBOSE = ("DNNL_VERBOSE", "MKLDNN_VERBOSE")
# WHO -> speed.py's contender; "_stock": the kernel without gluon_seq's compiled operators
CONTENDERS = {"fused": "ours fused", "unfused": "ours unfused",
              "fused_stock": "ours fused, stock ops", "unfused_stock": "ours unfused, stock ops"}
GOALS = {"fused": (1.0, "PyTorch"), "unfused": (0.8, "ours fused")}  # by kernel


def parse_case(text: str) -> list:
    """'fused-lstm-ptb:train+infer' -> [(who, cell, shape, mode), ...]."""
    name, _, modes = text.partition(":")
    who, cell, shape = (name.split("-", 2) + ["", ""])[:3]
    modes = (modes or "train").split("+")
    if (who not in (*CONTENDERS, "torch") or cell not in NAMES or shape not in SHAPES
            or not set(modes) <= {"train", "infer"}):
        raise ValueError(f"case {text!r} is not WHO-CELL-SHAPE[:MODES] (WHO "
                         f"{', '.join(CONTENDERS)} or torch; CELL {' or '.join(NAMES)}; "
                         f"SHAPE one of {', '.join(SHAPES)}; MODES train, infer or train+infer)")
    return [(who, cell, shape, mode) for mode in modes]


def reference(who: str):
    """Whom the goal compares ``who`` with (None: no goal, or PyTorch not installed)."""
    kernel = who.split("_")[0]
    return {"fused": "torch" if HAVE_TORCH else None, "unfused": "fused"}.get(kernel)


# ---- the worker: runs in the subprocess ----

def make_call(who: str, cell: str, shape: str, mode: str):
    batch = SHAPES[shape][1]
    if who == "torch":
        train, infer = torch_contender(cell, SHAPES[shape], batch)
    else:
        train, infer = mxnet_contender(CONTENDERS[who], cell, SHAPES[shape], batch)
    step = train if mode == "train" else infer

    def call():
        step()
        mx.nd.waitall()

    call()
    call()  # warm up: trace the graph, allocate, compile
    return call


def timed(call) -> tuple:
    """(wall seconds, CPU seconds of this process) of one call.  On a shared core the
    wall time includes time the scheduler gave to other jobs; the CPU time does not."""
    start, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - start, time.process_time() - cpu


def _medians_ms(samples) -> tuple:
    return tuple(statistics.median(values) * 1e3 for values in zip(*samples))


def plain_pass(spec) -> dict:
    calls = {"wall": make_call(spec["who"], *spec["case"])}
    if reference(spec["who"]):
        calls["ref_wall"] = make_call(reference(spec["who"]), *spec["case"])
    samples = {key: [] for key in calls}
    for _ in range(spec["calls"]):
        for key, call in calls.items():
            samples[key].append(timed(call))
    medians = {key: _medians_ms(values) for key, values in samples.items()}
    return {**{key: wall for key, (wall, _) in medians.items()},
            **{f"{key}_cpu": cpu for key, (_, cpu) in medians.items()}}


def verbose_pass(spec) -> dict:
    call, cpu = make_call(spec["who"], *spec["case"]), []
    for _ in range(spec["calls"]):
        print(dnnl_verbose.BEGIN, flush=True)
        wall, used = timed(call)
        print(dnnl_verbose.END, wall, flush=True)
        cpu.append(used)
    return {"cpu": statistics.median(cpu) * 1e3}


def mxprof_pass(spec) -> dict:
    result = {"own": mxnet_operators(make_call(spec["who"], *spec["case"]), spec["calls"])}
    if reference(spec["who"]) in CONTENDERS:
        result["ref"] = mxnet_operators(make_call(reference(spec["who"]), *spec["case"]),
                                        spec["calls"])
    return result


def torch_pass(spec) -> dict:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    call = make_call("torch", *spec["case"])
    wall, cpu = _medians_ms([timed(call) for _ in range(spec["calls"])])
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        profiled = sum(timed(call)[0] for _ in range(spec["calls"])) / spec["calls"] * 1e3
    ops = {e.key: (e.self_cpu_time_total / 1e3 / spec["calls"], e.count / spec["calls"])
           for e in prof.key_averages()}
    return {"wall": wall, "cpu": cpu, "profiled_wall": profiled, "ops": ops}


PASSES = {"plain": plain_pass, "verbose": verbose_pass, "mxprof": mxprof_pass,
          "torch": torch_pass}


def worker(spec_json: str) -> None:
    spec = json.loads(spec_json)
    steady_malloc()  # as speed.py measures
    print(RESULT, json.dumps(PASSES[spec["pass"]](spec)), flush=True)


# ---- the driver ----

def run_pass(name: str, who: str, case: tuple, calls: int):
    """(result dict, stdout lines) of one pass in a fresh subprocess."""
    env = {k: v for k, v in os.environ.items() if k not in VERBOSE}
    if name == "verbose":
        env.update({k: "1" for k in VERBOSE})
    if name == "mxprof":
        env.update(MXNET_EXEC_BULK_EXEC_TRAIN="0", MXNET_EXEC_BULK_EXEC_INFERENCE="0")
    spec = json.dumps({"pass": name, "who": who, "case": case, "calls": calls})
    done = subprocess.run([sys.executable, "-m", __spec__.name, "--worker", spec], cwd=ROOT,
                          env=env, text=True, capture_output=True)
    lines = done.stdout.splitlines()
    results = [line for line in lines if line.startswith(RESULT)]
    if done.returncode or not results:
        raise SystemExit(f"the {name} pass of {who} {case} failed:\n{done.stderr[-2000:]}")
    return json.loads(results[-1][len(RESULT):]), lines


def profile_case(who: str, cell: str, shape: str, mode: str, calls: int) -> dict:
    case = (cell, shape, mode)
    out = {"who": who, "case": case}
    if who == "torch":
        out["torch"], _ = run_pass("torch", who, case, calls)
        return out
    out["plain"], _ = run_pass("plain", who, case, calls)
    verbose, lines = run_pass("verbose", who, case, calls)
    out["onednn"] = dnnl_verbose.summarize(dnnl_verbose.split_calls(lines))
    out["onednn_cpu"] = verbose["cpu"]
    out["mxprof"], _ = run_pass("mxprof", who, case, calls)
    return out


def contender_name(who: str, cell: str) -> str:
    return f"PyTorch nn.{NAMES[cell]}" if who == "torch" else f"{CONTENDERS[who]} ({NAMES[cell]})"


def _row(source, what, ms, of=None, count="") -> str:
    share = f"{100 * ms / of:.0f} %" if of else ""
    if isinstance(count, (int, float)):
        count = f"{count:,.0f}" if abs(count - round(count)) < 0.05 else f"{count:,.1f}"
    return f"| {source} | {what} | {ms:.2f} | {share} | {count} |"


def _totals(ops: dict) -> tuple:
    """(ms, calls) per step, added over every operator of ``ops``."""
    return sum(ms for ms, _ in ops.values()), sum(n for _, n in ops.values())


def _op_rows(source: str, ops: dict, wall: float, top: int) -> list:
    ranked = sorted(ops.items(), key=lambda item: -item[1][0])
    rows = [_row(source, f"`{name}`", ms, wall, count) for name, (ms, count) in ranked[:top]]
    total, count = _totals(ops)
    return rows + [_row(source, f"all {len(ops)} kinds", total, wall, count)]


def case_table(result: dict, top: int) -> list:
    who, (cell, shape, mode) = result["who"], result["case"]
    T, B, C, H, L = SHAPES[shape]
    lines = [f"**{contender_name(who, cell)}, {shape} {mode}** (T{T} B{B} {C}->{H} x{L})", "",
             "| source | what | ms per call | share of the call | per call |",
             "|---|---|---:|---:|---:|"]
    if who == "torch":
        t = result["torch"]
        lines += [_row("wall", "timed calls, median", t["wall"]),
                  _row("CPU", "timed calls, median", t["cpu"]),
                  _row("wall", "under torch.profiler, mean (the shares below are of this)",
                       t["profiled_wall"], t["profiled_wall"])]
        return lines + _op_rows("torch op, self time", t["ops"], t["profiled_wall"], top)
    plain, onednn, prof = result["plain"], result["onednn"], result["mxprof"]
    passes = [("wall", "DNNL_VERBOSE off, median")]
    if "ref_wall" in plain:
        passes.append(("ref_wall", f"{contender_name(reference(who), cell)}, the same pass"))
    for key, what in passes:
        lines += [_row("wall", what, plain[key]), _row("CPU", what, plain[f"{key}_cpu"])]
    wall = onednn["wall"][0]
    lines += [_row("wall", "DNNL_VERBOSE=1, median (the oneDNN shares are of this)", wall,
                   wall),
              _row("CPU", "DNNL_VERBOSE=1, median", result["onednn_cpu"])]
    for what, (ms, count) in onednn.items():
        if what != "wall":
            lines.append(_row("oneDNN", what, ms, wall, count if count else ""))
    own = prof["own"]
    lines.append(_row("wall", "MXNet profiler on, bulk execution off, mean (the operator "
                      "shares are of this)", own["wall"], own["wall"]))
    lines += _op_rows("MXNet operator", own["ops"], own["wall"], top)
    if "ref" in prof:
        ms, count = _totals(prof["ref"]["ops"])
        lines.append(_row("MXNet operator", f"{contender_name(reference(who), cell)}: all",
                          ms, None, count))
    return lines


def cause(result: dict):
    """One generated line: the ratio against the goal and, if short, the measured cause."""
    who, (cell, shape, mode) = result["who"], result["case"]
    kernel = who.split("_")[0]
    if kernel not in GOALS:
        return None
    goal, against = GOALS[kernel]
    plain = result["plain"]
    if "ref_wall" not in plain:
        return f"{who} {NAMES[cell]} {shape} {mode}: no {against} to compare with (not installed)."
    ratio = plain["ref_wall"] / plain["wall"]
    head = (f"{who} {NAMES[cell]} {shape} {mode}: {ratio:.2f}x {against} (goal >= {goal}x; "
            f"{_ms(plain['wall'])} vs {_ms(plain['ref_wall'])} per call)")
    if ratio >= goal:
        return f"{head}: met in this run."
    if kernel == "fused":
        return (head + ": " + _fused_cause(result["onednn"], plain["ref_wall"])
                + _largest_other(result["mxprof"]["own"]["ops"]) + ".")
    return head + ": " + _unfused_cause(result["mxprof"]) + "."


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def _fused_cause(onednn: dict, reference_ms: float) -> str:
    wall = onednn["wall"][0]
    rnn = sum(ms for what, (ms, _) in onednn.items() if what.startswith("rnn"))
    reorders = sum(ms for what, (ms, _) in onednn.items() if what.startswith("reorder"))
    text = (f"oneDNN's rnn primitive takes {_ms(rnn)} of the {_ms(wall)} call under "
            f"DNNL_VERBOSE ({100 * rnn / wall:.0f} %), its reorders {_ms(reorders)} "
            f"({100 * reorders / wall:.0f} %); PyTorch's whole call {_ms(reference_ms)}")
    return text + (", less than the rnn primitive alone" if reference_ms < rnn else "")


def _largest_other(ops: dict) -> str:
    """The costliest operator other than the RNN operator itself, forward or backward."""
    others = {name: ms for name, (ms, _) in ops.items() if name not in ("RNN", "_backward_RNN")}
    if not others:
        return ""
    name = max(others, key=others.get)
    return f"; the costliest other operator is `{name}`, {_ms(others[name])}"


def _unfused_cause(prof: dict) -> str:
    total, count = _totals(prof["own"]["ops"])
    text = (f"{count:,.0f} operator calls per step (MXNet profiler, bulk execution off), "
            f"mean {total / count * 1e3:.0f} µs each ({_ms(total)} in all)")
    if "ref" in prof:
        ref_ms, ref_count = _totals(prof["ref"]["ops"])
        text += f", against {ref_count:,.0f} calls ({_ms(ref_ms)}) in the fused kernel's step"
    return text


def main() -> None:
    bench = Bench(__doc__, __file__, "profile")
    bench.parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, metavar="CASE")
    bench.parser.add_argument("--calls", type=int, default=10, help="timed calls per pass")
    bench.parser.add_argument("--top", type=int, default=8, help="operators listed per case")
    bench.parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = bench.parse()
    if args.worker:
        return worker(args.worker)
    try:
        cases = [case for text in args.cases for case in parse_case(text)]
    except ValueError as error:
        bench.parser.error(str(error))
    lines = [f"Command: `{bench.command()}`", "",
             f"{args.calls} calls per pass, each in a fresh subprocess and ending in "
             "`mx.nd.waitall()`; walls and oneDNN rows are medians, profiler rows means.", ""]
    if not HAVE_TORCH:
        print("torch not installed: torch cases and the fused kernel's reference skipped "
              "(pip install torch==2.13.0)")
        cases = [case for case in cases if case[0] != "torch"]
    causes = []
    for who, cell, shape, mode in cases:
        result = profile_case(who, cell, shape, mode, args.calls)
        table = case_table(result, args.top)
        print("\n".join(table) + "\n", flush=True)
        lines += table + [""]
        causes.append(cause(result))
    # The generated lines first, the tables they come from folded below them.
    causes = [f"- {line}" for line in causes if line]
    bench.finish("\n".join(lines[:4] + ["Measured, per case (generated from the tables below):",
                                        ""] + causes
                           + ["", f"<details><summary>The {len(cases)} profiles</summary>", ""]
                           + lines[4:] + ["</details>"]))


if __name__ == "__main__":
    main()
