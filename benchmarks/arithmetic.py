"""Arithmetic seq2seq: accuracy and wall time of the source's training per kernel, and of
the generalise preset (what ``make run`` trains) over several seeds.

    .venv/bin/python benchmarks/arithmetic.py [--backends auto fused] [--epochs 60]
        [--generalise-seeds 0 1 2 3 4] [--no-write]

Runs the real CLI (``gluon-seq train arithmetic``) into a temporary folder for each
row, then rewrites the table between the markers in BENCHMARKS.md.  Wall time is
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
    bench.parser.add_argument("--generalise-seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    args = bench.parse()
    runs = [(f"source, {args.epochs} epochs", backend, 0,
             ["--rnn-backend", backend, "--epochs", args.epochs]) for backend in args.backends]
    runs += [("--preset generalise", "auto", seed, ["--preset", "generalise", "--seed", seed])
             for seed in args.generalise_seeds]
    lines = [f"Command: `{bench.command()}`", "",
             "| configuration | kernel | seed | best epoch | exact match, fresh samples | "
             "exact match, 200 held-out expressions | train seconds | wall seconds (whole "
             "command) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, backend, seed, arguments) in enumerate(runs):
            run = train_cli(["arithmetic", *arguments], Path(tmp) / str(index))
            print(json.dumps(run), flush=True)
            m = run["metrics"]
            lines.append(f"| {name} | {backend} ({m['rnn_backend']}) | {seed} | "
                         f"{m['best_epoch']} of {m['epochs']} | "
                         f"{100 * m['splits']['fresh']['exact_match']:.2f} % | "
                         f"{100 * m['splits']['heldout']['exact_match']:.2f} % | "
                         f"{m['train_seconds']:.0f} | {run['wall']:.0f} |")
    bench.finish("\n".join(lines))


if __name__ == "__main__":
    main()
