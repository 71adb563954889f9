#!/usr/bin/env python
"""Train a task on one or more GPUs (or the CPU) and plot its curves.

    scripts/train.py arithmetic --gpus 0,1 [--amp] [--resume] [any gluon-seq train option]
    scripts/train.py ptb --preset small --gpus 0
    scripts/train.py arithmetic --ctx cpu --epochs 2      # what CI runs

A thin layer over ``gluon-seq train``: --gpus 0,1 becomes --ctx gpu:0,gpu:1 (data
parallel: each batch is split over the GPUs and gradients are reduced by the
``device`` kvstore).  Every epoch is checkpointed; --resume continues.  The
installed mxnet is checked against each GPU before training starts.  At the
end, RUN_DIR/curves.png shows loss and the validation metric per epoch.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gluon_seq.cli import main as gluon_seq  # noqa: E402  (after the path fix-up)


def translate(argv):
    """--gpus 0,1 -> --ctx gpu:0,gpu:1; everything else passes through."""
    out, rest = [], list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--gpus" and rest:
            out += ["--ctx", ",".join(f"gpu:{i.strip()}" for i in rest.pop(0).split(",") if i.strip())]
        elif arg.startswith("--gpus="):
            out += ["--ctx", ",".join(f"gpu:{i.strip()}" for i in arg[7:].split(",") if i.strip())]
        else:
            out.append(arg)
    return out


def main(argv):
    args = translate(argv)
    code = gluon_seq(["train"] + args)
    if code == 0:
        from gluon_seq.plots import plot_log

        task = next(a for a in args if not a.startswith("-"))
        out = args[args.index("--out") + 1] if "--out" in args else f"runs/{task}"
        print(f"curves: {plot_log(Path(out))}")
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
