"""``gluon-seq``: train, evaluate, export and predict for every task.  A UserError
prints one line on stderr and exits with status 2, never a traceback."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from pathlib import Path
from typing import List, Optional

from ..util import runtime, settings
from ..util.errors import ArgumentParser, UserError
from ..rnn import cells, kernels  # the lists only: no MXNet is loaded for --help or launch

EXIT_USER_ERROR = 2
RUN_SETTINGS = ("preset", "epochs", "batch_size", "lr", "optimizer", "clip", "rnn_backend", "cell",
                "ctx", "kvstore", "data_dir", "seed", "amp", "restarts")


def _number(convert, what: str):
    """An argparse type: ``convert(text)``, or one sentence saying the text is not ``what``."""
    def parse(text: str):
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    return parse


_whole, _real = _number(int, "a whole number"), _number(float, "a number")
_TYPES = {int: _whole, float: _real}


def _add_task_options(parser: argparse.ArgumentParser, task_cls) -> None:
    group = parser.add_argument_group(f"{task_cls.name} options")
    for field in task_cls.option_fields():
        default = field.default if field.default is not dataclasses.MISSING else None
        flag = settings.flag_of(field)
        help_text = field.metadata.get("help", "")
        if "default" not in help_text:
            help_text += f" (default: {default})"
        if isinstance(default, bool):
            group.add_argument(flag, dest=f"opt_{field.name}", default=None,
                               action=argparse.BooleanOptionalAction, help=help_text)
        else:
            # A field may name its own parser (metadata "parse"), e.g. "a number or 'all'".
            kind = type(default) if default is not None else str
            parse = field.metadata.get("parse") or _TYPES.get(kind, kind)
            group.add_argument(flag, dest=f"opt_{field.name}", type=parse, default=None,
                               help=help_text, choices=field.metadata.get("choices"),
                               metavar=None if field.metadata.get("choices") else
                               flag.lstrip("-").replace("-", "_").upper())


def _task_default(task_cls, key: str) -> str:
    if task_cls is None:
        return "the task's (gluon-seq train TASK --help lists them)"
    value = task_cls.defaults.get(key)
    return "none" if value is None else str(value)


def _presets(task_cls) -> Optional[str]:
    """The epilog of ``train TASK --help``: each preset of the task with one line."""
    if task_cls is None or not task_cls.presets:
        return None
    lines = [f"  {name:<14} {task_cls.preset_help.get(name, '')}" for name in task_cls.presets]
    return f"presets of {task_cls.name} (--preset NAME):\n" + "\n".join(lines)


def _train_parser(task_name: Optional[str]) -> argparse.ArgumentParser:
    from .. import tasks

    task_cls = tasks.get(task_name) if task_name in tasks.names() else None
    parser = ArgumentParser(prog="gluon-seq train", epilog=_presets(task_cls),
                            description="Train a task, evaluate it and export it.",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=tasks.names())
    parser.add_argument("--preset", metavar="NAME",
                        help="a named configuration of the task (default: none, the source's)")
    for flag, kind, key, what in (("--epochs", _whole, "epochs", "passes over the data"),
                                  ("--batch-size", _whole, "batch_size", "examples per step"),
                                  ("--lr", _real, "lr", "learning rate"),
                                  ("--optimizer", str, "optimizer", "any MXNet optimizer"),
                                  ("--clip", _real, "clip", "bound on the global gradient norm "
                                   "(bAbI: or on each matrix's, --clip-norm)")):
        parser.add_argument(flag, type=kind, metavar=key.split("_")[0].upper(),
                            help=f"{what} (default: {_task_default(task_cls, key)})")
    # Run settings default to None ("not given"): RunConfig fills the defaults, and
    # --resume compares only what was given with the saved run.
    parser.add_argument("--rnn-backend", choices=kernels.CHOICES,
                        help="auto (default): fused on GPU, unfused on CPU; auto-fast: time both "
                             "on this model and train with the faster")
    parser.add_argument("--cell", choices=cells.CELLS,
                        help="the recurrence: lstm (default), gru, rnn_tanh or rnn_relu")
    parser.add_argument("--ctx", help="cpu (default), cpu:0,cpu:1, or gpu:0[,gpu:1...]")
    parser.add_argument("--kvstore", help="device (default), local or dist_sync")
    parser.add_argument("--data-dir", help="dataset root (default: ../shared/data or ~/.gluon_seq/data)")
    parser.add_argument("--out", help="run folder (default: runs/TASK)")
    parser.add_argument("--seed", type=_whole, help="random seed (default: 0)")
    parser.add_argument("--restarts", type=_whole,
                        help="train this many seeds (--seed, --seed + 1, ...) in the run folder "
                             "and keep the best by validation, as the references report (default: "
                             "1, or the preset's)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out with its saved settings (default: off)")
    parser.add_argument("--amp", action="store_true", help="mixed precision, GPU only "
                                                            "(default: off)")
    if task_cls is not None:
        _add_task_options(parser, task_cls)
    return parser


def cmd_train(argv: List[str]) -> int:
    from .. import tasks
    from ..training.config import RunConfig
    from ..training.workflow import train

    # The task decides which extra flags exist, so find it before parsing.
    task_name = next((a for a in argv if a in tasks.names()), None)
    args = _train_parser(task_name).parse_args(argv)
    options = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}
    settings = {name: getattr(args, name) for name in RUN_SETTINGS}
    settings["amp"] = settings["amp"] or None
    given = [name for name, value in settings.items() if value is not None] + list(options)
    config = RunConfig.for_task(args.task, options=options, **settings)
    out = Path(args.out or Path("runs") / args.task)
    metrics = train(config, out, resume=args.resume, given=given,
                    log=lambda line: print(line, flush=True))  # seen at once in a log file
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_evaluate(argv: List[str]) -> int:
    from ..training.workflow import reevaluate

    parser = ArgumentParser(prog="gluon-seq evaluate",
                                     description="Re-evaluate a run's best checkpoint.")
    parser.add_argument("run_dir")
    parser.add_argument("--rnn-backend", choices=kernels.CHOICES,
                        help="kernel to evaluate with (default: the one training used; the "
                             "numbers are the same)")
    parser.add_argument("--ctx", default="cpu", help="devices (default: cpu)")
    args = parser.parse_args(argv)
    print(json.dumps(reevaluate(Path(args.run_dir), args.rnn_backend, args.ctx), indent=2))
    return 0


def cmd_export(argv: List[str]) -> int:
    from ..training.workflow import export

    parser = ArgumentParser(prog="gluon-seq export",
                                     description="(Re)write RUN_DIR/export from the best checkpoint.")
    parser.add_argument("run_dir")
    parser.add_argument("--rnn-backend", choices=kernels.KERNELS + (kernels.TIMED,),
                        default=kernels.EXPORT_DEFAULT,
                        help="kernel baked into the graph (default: fused, which ONNX and cuDNN "
                             "take; auto-fast: time one-example inference with both, keep the "
                             "faster)")
    parser.add_argument("--onnx", action="store_true",
                        help="also write model.onnx for 'gluon-seq serve --backend onnxruntime' "
                             "(default: off)")
    parser.add_argument("--quantize", choices=("int8",),
                        help="also write an int8 graph, calibrated on the run's validation "
                             "data, which the mxnet backend then serves; logs the test metric "
                             "in fp32 and int8 (default: off)")
    args = parser.parse_args(argv)
    print(export(Path(args.run_dir), rnn_backend=args.rnn_backend, onnx=args.onnx,
                 quantize=args.quantize))
    return 0


def cmd_predict(argv: List[str]) -> int:
    from ..serving import load_predictor

    parser = ArgumentParser(prog="gluon-seq predict",
                                     description="Predict from an export folder alone.")
    parser.add_argument("export_dir")
    parser.add_argument("inputs", nargs="*", help="one input per word (quote inputs with spaces)")
    parser.add_argument("--story", help="bAbI story (default: none)")
    parser.add_argument("--question", help="bAbI question (default: none)")
    parser.add_argument("--words", type=_whole,
                        help="words to generate, language models (default: 10)")
    parser.add_argument("--temperature", type=_real,
                        help="sampling temperature, 0 = greedy (default: 0)")
    parser.add_argument("--backend", default="mxnet",
                        help="serving runtime: mxnet (default), onnxruntime (needs model.onnx) or "
                             "auto (the faster here, timed at load)")
    parser.add_argument("--graph", choices=("auto", "int8", "compiled", "portable"),
                        help="mxnet backend: the int8 graph (export --quantize int8), the one "
                             "with gluon_seq's compiled operators, or the portable one (default "
                             "auto: the first of these the folder has and this machine runs)")
    args = parser.parse_intermixed_args(argv)  # options may come before the inputs
    if args.graph and args.backend not in ("mxnet", "auto"):  # auto passes it to mxnet
        raise UserError(f"--graph chooses between the mxnet backend's graphs; the {args.backend} "
                        "backend has one.")
    model = load_predictor(Path(args.export_dir), args.backend,
                           **({"graph": args.graph} if args.graph else {}))
    named = {k: v for k, v in vars(args).items()
             if k in ("story", "question", "words", "temperature") and v is not None}
    inputs = model.codec.parse_cli(args.inputs, **named)
    if not inputs:
        raise UserError("no input given; e.g. gluon-seq predict EXPORT_DIR '7*3*2'.")
    for given, answer in zip(inputs, model.predict(inputs)):
        print(model.codec.format(given, answer))
    return 0


# name -> (handler, one line for `gluon-seq --help`); a string handler is loaded when
# called: serving needs the serve extra, launch needs no MXNet.
COMMANDS = {
    "train": (cmd_train, "train a task into a run folder, evaluate it and export it"),
    "evaluate": (cmd_evaluate, "evaluate a run folder's best checkpoint again"),
    "export": (cmd_export, "(re)write a run's export folder, optionally with model.onnx"),
    "predict": (cmd_predict, "answer inputs from an export folder alone"),
    "serve": ("gluon_seq.serving.command:cmd_serve", "serve export folders over HTTP"),
    "ask": ("gluon_seq.cli.ask:cmd_ask", "ask a bAbI export questions about your own stories"),
    "launch": ("gluon_seq.training.launch:cmd_launch",
               "run a dist_sync training job's roles on this machine"),
}
# Commands that train nothing: they get the serving engine and oneDNN settings (util.runtime).
INFERENCE_ONLY = ("export", "predict", "serve", "ask")
USAGE = ("usage: gluon-seq COMMAND [options]   (gluon-seq COMMAND --help for its options)\n\n"
         "commands:\n" + "\n".join(f"  {name:<9} {line}" for name, (_, line) in COMMANDS.items()))


def _handler(name: str):
    handler = COMMANDS[name][0]
    if isinstance(handler, str):
        module, _, function = handler.partition(":")
        handler = getattr(importlib.import_module(module), function)
    return handler


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        if argv:
            print(f"gluon-seq: error: unknown command {argv[0]!r}", file=sys.stderr)
        return EXIT_USER_ERROR
    if argv[0] in INFERENCE_ONLY:
        runtime.configure_serving_engine()  # before the handler's module loads mxnet
    try:
        return _handler(argv[0])(argv[1:])
    except UserError as err:
        print(f"gluon-seq: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("gluon-seq: interrupted; a training run keeps its last finished epoch "
              "(continue it with --resume).", file=sys.stderr)
        return 130
