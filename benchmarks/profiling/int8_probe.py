"""Does MXNet 1.9.1's int8 quantization run here?  A probe for ``export --quantize int8``.

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.profiling.int8_probe \
        [--task ptb] [--export RUN_DIR/export] [--keep-rnn-fp32]
    DNNL_MAX_CPU_ISA=AVX512_CORE ... (the same)     # oneDNN without its VNNI code paths

The task's default model, untrained (or ``--export``'s trained one), exported and folded
as the mxnet runtime folds it, is quantized with ``quantize_model_mkldnn`` (naive calibration on one training batch;
``--keep-rnn-fp32`` leaves the ``RNN`` operators out), then the fp32 and int8 graphs run
through the C predict API as the runtime runs them.  Prints the operators of the int8
graph, each input's ms per call for both, the largest difference of the first output
against its largest value, and the share of outputs whose top answer (argmax over the
last axis) int8 keeps: with untrained weights a check that int8 computes, with a trained
export one of its quality.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from gluon_seq.util.runtime import configure_serving_engine

configure_serving_engine()
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet.contrib import quantization  # noqa: E402

from benchmarks.harness import untrained_export  # noqa: E402
from gluon_seq import tasks  # noqa: E402
from gluon_seq.exporting.quantize import Calibration  # noqa: E402
from gluon_seq.serving.folding import fold, graph_params  # noqa: E402
from gluon_seq.serving.format import PARAMS_FILE, SYMBOL_FILE, read_meta, read_params, \
    zeros  # noqa: E402
from gluon_seq.serving.predict_api import PredictGraph, params_bytes  # noqa: E402


def ms_per_call(call, seconds: float = 1.0) -> float:
    call()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        count += 1
    return (time.perf_counter() - start) / count * 1e3


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="ptb")
    parser.add_argument("--export", type=Path,
                        help="a trained export of the task at its default options")
    parser.add_argument("--keep-rnn-fp32", action="store_true")
    args = parser.parse_args(argv)
    task_cls = tasks.get(args.task)
    task = task_cls()
    folder = args.export or untrained_export(task, Path(tempfile.mkdtemp()) / "export")
    task.prepare()
    specs = read_meta(folder)["inputs"]
    names = [s["name"] for s in specs]
    symbol, weights = fold(mx.sym.load(str(folder / SYMBOL_FILE)),
                           read_params(folder / PARAMS_FILE), names)
    arguments, auxiliary = graph_params(symbol, weights, names)
    batch = next(iter(task.train_batches(0, task_cls.defaults["batch_size"])))
    data = [np.asarray(a, np.float32) for a in batch.inputs]

    def states(rows):
        return zeros([s for s in specs if s["role"] == "state"], rows)

    logging.getLogger().setLevel(logging.WARNING)
    q_symbol, q_arguments, q_auxiliary = quantization.quantize_model_mkldnn(
        symbol, arguments, auxiliary, data_names=names, label_names=[], ctx=mx.cpu(),
        excluded_op_names=["RNN"] if args.keep_rnn_fp32 else None, calib_mode="naive",
        calib_data=Calibration(specs, [data + states(len(data[0]))]),
        num_calib_examples=len(data[0]))
    print("int8 graph:", sorted({n["op"] for n in json.loads(q_symbol.tojson())["nodes"]}))
    print("DNNL_MAX_CPU_ISA:", os.environ.get("DNNL_MAX_CPU_ISA", "(unset: the CPU's best)"))
    fp32 = PredictGraph(symbol.tojson(), params_bytes(arguments, auxiliary), names, mx.cpu())
    int8 = PredictGraph(q_symbol.tojson(), params_bytes(q_arguments, q_auxiliary), names,
                        mx.cpu())
    feeds = [[a[:1] for a in data] + states(1), data + states(len(data[0]))]
    if task.carries_state:
        feeds.insert(1, [data[0][:1, :1]] + states(1))
    for feed in feeds:
        try:
            expected, got = fp32.forward(feed)[0], int8.forward(feed)[0]
        except mx.base.MXNetError as err:
            print(f"{feed[0].shape}: int8 fails: {str(err).splitlines()[0]}")
            continue
        print(f"{feed[0].shape}: fp32 {ms_per_call(lambda: fp32.forward(feed)):.3f} ms, int8 "
              f"{ms_per_call(lambda: int8.forward(feed)):.3f} ms; largest difference "
              f"{np.abs(expected - got).max():.2e} against largest value "
              f"{np.abs(expected).max():.2e}; top answer kept on "
              f"{np.mean(expected.argmax(-1) == got.argmax(-1)):.1%}")


if __name__ == "__main__":
    main()
