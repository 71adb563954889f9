"""Batch-1 inference of every task's export: MXNet's compiled graph, its portable graph, onnxruntime.

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/batch1.py [--tasks ...] [--seconds 4]

For each task: its default model (the preset sizes, no options), with initialised
weights: nothing is trained, since the time of a call does not depend on the values.
It is exported with ``export_model`` (the fused kernel, the export default) into a
temporary folder, and ``model.onnx`` is written with ``export_onnx``.  The input is the
first row of the task's first training batch; PTB also gets one word, the call each
generated word makes.  Each contender is a :mod:`gluon_seq.serving` predictor in this
process, timed on ``run(arrays)`` (numpy in, numpy out, zero begin states made by the
predictor; the codec is the same for all three and left out), after a warm-up, in
rounds that interleave the contenders so drifting load hits them alike.

Every contender must use the same threads (onnxruntime's intra-op threads are set to
OMP_NUM_THREADS): each one's CPU-seconds per wall-second over its timed calls is in the
table, and the script exits with status 1, writing nothing, when two of one row's
differ by more than 10 %.  Where MXNet is more than 1.5x onnxruntime, the cause is
measured under the table: MXNet's cost per call and per operator, from trivial graphs.
The table goes into BENCHMARKS.md between the ``batch1`` markers.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import gluon_seq  # noqa: F401  (sets OMP_NUM_THREADS before mxnet loads)
from gluon_seq.util.runtime import configure_serving_engine

configure_serving_engine()  # what `gluon-seq serve` runs with; before mxnet loads
import mxnet as mx  # noqa: E402
import numpy as np

from harness import (Bench, check_equal_cpu, mxnet_operators, percentiles, race,
                     untrained_export)

from gluon_seq import UserError, tasks
from gluon_seq.exporting.onnx import export_onnx
from gluon_seq.rnn import compiled_ops
from gluon_seq.serving.format import COMPILED_SYMBOL_FILE, ONNX_FILE, SYMBOL_FILE
from gluon_seq.serving.onnx_runtime import OnnxRuntimePredictor
from gluon_seq.serving.predictors import MXNetPredictor
from gluon_seq.serving.predict_api import PredictGraph, params_bytes

CONTENDERS = ("mxnet compiled", "mxnet portable", "onnxruntime")
GOAL = 1.5        # MXNet within this factor of onnxruntime ...
GOALS = {"ptb": 1.0}  # ... or of this one, for a task named here


def goal(row) -> float:
    return GOALS.get(row["task"], GOAL)
ROUNDS = 5


def threads() -> int:
    return int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or (os.cpu_count() or 1)


def export_task(name: str, root: Path):
    """(folder, inputs: [(label, arrays)], onnx refusal or None) for one task's
    default model, initialised and exported."""
    task_cls = tasks.get(name)
    task = task_cls()
    folder = untrained_export(task, root / name / "export")
    refusal = None
    try:
        export_onnx(folder)
    except UserError as err:
        refusal = str(err)
    batch = next(iter(task.train_batches(0, task_cls.defaults["batch_size"])))
    row = [np.asarray(a[:1], dtype=np.float32) for a in batch.inputs]
    inputs = [(f"{tuple(row[0].shape)}", row)]
    if task.carries_state:  # a language model generates one word per call
        inputs.append(("(1, 1), one generated word", [a[:, :1] for a in row]))
    return folder, inputs, refusal


def contenders(folder: Path, refusal):
    """name -> predictor, or the reason it cannot run."""
    found = {"mxnet portable": MXNetPredictor(folder, graph="portable")}
    if (folder / COMPILED_SYMBOL_FILE).is_file():
        found["mxnet compiled"] = MXNetPredictor(folder, graph="compiled")
    else:
        found["mxnet compiled"] = ("no compiled graph: " + (compiled_ops.unavailable_reason()
                                   or "the trace holds none of gluon_seq's operators"))
    found["onnxruntime"] = (refusal if refusal
                            else OnnxRuntimePredictor(folder, threads=threads()))
    return found


def graph_nodes(path: Path) -> int:
    """Operator nodes of an MXNet symbol file (inputs and weights left out)."""
    return sum(node["op"] != "null" for node in json.loads(path.read_text())["nodes"])


def measure(name: str, root: Path, seconds: float) -> list:
    """The table rows of one task: one per input."""
    folder, inputs, refusal = export_task(name, root)
    found = contenders(folder, refusal)
    nodes = {"mxnet portable": graph_nodes(folder / SYMBOL_FILE)}
    if (folder / COMPILED_SYMBOL_FILE).is_file():
        nodes["mxnet compiled"] = graph_nodes(folder / COMPILED_SYMBOL_FILE)
    rows = []
    for label, arrays in inputs:
        runs = {c: (lambda p=found[c]: p.run(arrays)) for c in CONTENDERS
                if not isinstance(found[c], str)}
        stats = race(runs, ROUNDS, seconds / ROUNDS, warm_up=20)
        rows.append({"task": name, "input": label, "stats": stats, "nodes": nodes,
                     "predictors": found, "arrays": arrays,
                     "missing": {c: found[c] for c in CONTENDERS if isinstance(found[c], str)},
                     "inputs": len(found["mxnet portable"].meta["inputs"]),
                     "outputs": len(found["mxnet portable"].meta["outputs"])})
        print(name, label, {c: percentiles(s["times"], 3) for c, s in stats.items()}, flush=True)
    return rows


def p50(stats) -> float:
    return float(np.percentile(stats["times"], 50)) * 1e3


def mxnet_of(row) -> str:
    """The graph gluon_seq's mxnet runtime runs for this folder by default."""
    return "mxnet compiled" if "mxnet compiled" in row["stats"] else "mxnet portable"


def cell(row, contender: str) -> str:
    if contender in row["missing"]:
        return row["missing"][contender].replace("|", "/")
    return percentiles(row["stats"][contender]["times"], 3)


def table(rows) -> str:
    lines = ["| task (default model), input | operators: compiled / portable graph | "
             "MXNet compiled graph p50 / p99 ms | MXNet portable graph p50 / p99 ms | "
             "onnxruntime p50 / p99 ms | MXNet (compiled where written) / onnxruntime, p50 | "
             f"within goal ({GOALS['ptb']}x PTB, {GOAL}x others) | "
             "CPU-s per wall-s (compiled / portable / onnxruntime) |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for row in rows:
        nodes = f"{row['nodes'].get('mxnet compiled', '-')} / {row['nodes']['mxnet portable']}"
        if "onnxruntime" in row["stats"]:
            ratio = p50(row["stats"][mxnet_of(row)]) / p50(row["stats"]["onnxruntime"])
            ratio_text, within = f"{ratio:.2f}x", "yes" if ratio <= goal(row) else "**no**"
        else:
            ratio_text, within = "-", "-"
        shares = " / ".join(f"{row['stats'][c]['cpu']:.2f}" if c in row["stats"] else "-"
                            for c in CONTENDERS)
        lines.append(f"| {row['task']}, {row['input']} | {nodes} | "
                     + " | ".join(cell(row, c) for c in CONTENDERS)
                     + f" | {ratio_text} | {within} | {shares} |")
    return "\n".join(lines)


def _trivial_call(symbol, inputs: int, seconds: float = 1.0) -> float:
    """p50 ms of calling ``symbol`` on (1, 1) inputs the way MXNetPredictor calls its
    graph: float32 numpy in, through the C predict API, numpy out."""
    graph = PredictGraph(symbol.tojson(), params_bytes({}, {}),
                         [f"data{i}" for i in range(inputs)], mx.cpu())
    feed = [np.zeros((1, 1), dtype=np.float32) for _ in range(inputs)]
    return p50(race({"whole": lambda: graph.forward(feed)}, ROUNDS, seconds / ROUNDS, 20)["whole"])


def framework_cost(inputs: int, outputs: int) -> tuple:
    """(ms per call of a graph with this many inputs and outputs and one trivial operator
    per output; ms per further operator, from a 201- against a 1-operator chain)."""
    data = [mx.sym.var(f"data{i}") for i in range(inputs)]
    first = mx.sym.add_n(*data) if inputs > 1 else data[0] * 1  # reads every input
    fixed = _trivial_call(mx.sym.Group([first] + [data[0] * 1] * (outputs - 1)), inputs)
    chain = data[0]
    for _ in range(201):
        chain = chain + 1
    per_op = (_trivial_call(chain, 1) - _trivial_call(data[0] + 1, 1)) / 200
    return fixed, per_op


def mxnet_profile(predictor, arrays, calls: int = 30) -> dict:
    """Operator -> ms per call, from MXNet's profiler over ``calls`` calls after 5, of a
    fresh copy of ``predictor`` whose graphs are bound with bulk execution off (bulked,
    the profiler names a whole run of operators as one; a graph is bound per shape)."""
    os.environ["MXNET_EXEC_BULK_EXEC_INFERENCE"] = "0"
    try:
        copy = MXNetPredictor(predictor.folder, graph=predictor.graph)
        for _ in range(5):
            copy.run(arrays)
    finally:
        del os.environ["MXNET_EXEC_BULK_EXEC_INFERENCE"]
    ops = mxnet_operators(lambda: copy.run(arrays), calls)["ops"]
    return {name: ms for name, (ms, _) in ops.items()}


def onnx_profile(predictor, arrays, calls: int = 30) -> dict:
    """ONNX operator type -> ms per call, from onnxruntime's own profiling (same threads)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads(), 1
    with tempfile.TemporaryDirectory() as folder:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(str(predictor.folder / ONNX_FILE), options,
                                       providers=["CPUExecutionProvider"])
        feed = dict(zip(predictor.input_names, list(arrays) + predictor.zero_states(1)))
        for _ in range(calls + 5):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    totals: dict = {}
    for event in events:  # the nodes of the last `calls` runs, after 5 warm-up runs
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") \
                and event["ts"] >= runs[5]:
            op = event["args"]["op_name"]
            totals[op] = totals.get(op, 0.0) + event["dur"] / 1e3 / calls
    return totals


def _top(times: dict, count: int = 4) -> str:
    total = sum(times.values()) or 1.0
    ranked = sorted(times.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{op} {ms:.2f} ms ({ms / total:.0%})" for op, ms in ranked)


def causes(rows) -> list:
    """One measured sentence per row where MXNet is beyond its goal times onnxruntime."""
    lines = []
    for row in rows:
        stats = row["stats"]
        if "onnxruntime" not in stats:
            continue
        mxnet, ort = p50(stats[mxnet_of(row)]), p50(stats["onnxruntime"])
        if mxnet <= goal(row) * ort:
            continue
        nodes = row["nodes"][mxnet_of(row)]
        fixed, per_op = framework_cost(row["inputs"], row["outputs"])
        floor = fixed + max(0, nodes - row["outputs"]) * per_op
        lines.append(
            f"- {row['task']}, {row['input']}: MXNet {mxnet:.3f} ms against onnxruntime "
            f"{ort:.3f} ms. Its graph has {nodes} operators; a graph with the same "
            f"{row['inputs']} inputs and {row['outputs']} output(s) and one trivial operator "
            f"per output takes {fixed:.3f} ms a call here (numpy in, the C predict API, numpy "
            "out), and each further operator "
            f"{per_op * 1e3:.1f} us (a 201-operator chain against a 1-operator one, (1, 1) "
            f"arrays), so about {floor:.3f} ms ({min(1.0, floor / mxnet):.0%}) of the call is "
            "MXNet's per-call and per-operator cost, before any arithmetic. Operator time "
            "per call, profiled (the profilers slow both): MXNet "
            + _top(mxnet_profile(row["predictors"][mxnet_of(row)], row["arrays"]))
            + "; onnxruntime " + _top(onnx_profile(row["predictors"]["onnxruntime"],
                                                    row["arrays"])) + ".")
    return lines


def main(argv=None) -> None:
    bench = Bench(__doc__, __file__, "batch1")
    bench.parser.add_argument("--tasks", nargs="+", default=tasks.names())
    bench.parser.add_argument("--seconds", type=float, default=4.0,
                              help="timed seconds per contender and input")
    args = bench.parse(argv)
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as root:
        for name in args.tasks:
            try:
                rows += measure(name, Path(root), args.seconds)
            except UserError as err:  # its data is not on this machine
                skipped.append(f"- {name}: skipped ({err})")
        for row in rows:
            check_equal_cpu({c: s["cpu"] for c, s in row["stats"].items()},
                            f"{row['task']} {row['input']}")
        found = causes(rows)  # profiles the exports, still in the temporary folder
    bench.finish("\n".join(
        [f"Command: `{bench.command()}` (about {args.seconds:g} s of calls per contender and "
         f"input, in {ROUNDS} interleaved rounds, each after 20 warm-up calls; untrained "
         "weights).",
         "", table(rows), ""] + skipped
        + (["", "Where MXNet is beyond the goal:", ""] + found if found else
           ["", "MXNet is within its goal of onnxruntime on every row."])))


if __name__ == "__main__":
    main()
