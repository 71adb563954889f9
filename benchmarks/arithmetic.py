"""Arithmetic seq2seq: accuracy and wall time of the default training, per kernel.

    .venv/bin/python benchmarks/arithmetic.py [--backends auto fused] [--epochs 60] [--no-write]

Runs the real CLI (``gluon-seq train arithmetic``) into a temporary folder for each
kernel, then rewrites the table between the markers in BENCHMARKS.md.  Wall time is
the whole command: start-up, training, evaluation and export.
"""
import json
import tempfile
from pathlib import Path

from harness import Bench, train_cli


def main() -> None:
    bench = Bench(__doc__, __file__, "arithmetic")
    bench.parser.add_argument("--backends", nargs="+", default=["auto", "fused"])
    bench.parser.add_argument("--epochs", type=int, default=60)
    args = bench.parse()
    lines = [f"Command: `{bench.command()}`", "",
             "| kernel | epochs | best epoch | exact match, fresh samples | exact match, 200 "
             "held-out expressions | train seconds | wall seconds (whole command) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            run = train_cli(["arithmetic", "--rnn-backend", backend, "--epochs", args.epochs],
                            Path(tmp) / backend)
            print(json.dumps(run), flush=True)
            m = run["metrics"]
            lines.append(f"| {backend} ({m['rnn_backend']}) | {m['epochs']} | {m['best_epoch']} | "
                         f"{100 * m['splits']['fresh']['exact_match']:.2f} % | "
                         f"{100 * m['splits']['heldout']['exact_match']:.2f} % | "
                         f"{m['train_seconds']:.0f} | {run['wall']:.0f} |")
    bench.finish("\n".join(lines))


if __name__ == "__main__":
    main()
