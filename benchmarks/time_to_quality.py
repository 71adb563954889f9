"""Time to quality: each task's training time until its validation metric first
reaches a target, per LSTM kernel, with the whole command's wall time, CPU time
and peak resident memory.

    .venv/bin/python benchmarks/time_to_quality.py [--tasks alphabet count-ones ...]
                                                   [--backends fused unfused] [--no-write]

Every run is the real CLI in a fresh process (``harness.train_cli``); most of the
default's time goes to bAbI and IMDB, ``--tasks alphabet count-ones arithmetic`` is the
short check.  Train seconds to target come from the run's ``log.csv``.
"""
import json
import tempfile
from pathlib import Path

from harness import Bench, reached, train_cli

# task -> (train arguments, validation target, source's reported time)
TASKS = {
    "arithmetic": (["arithmetic"], 0.995, "none reported"),
    "alphabet": (["alphabet"], 1.0, "500 epochs at batch 1 (Keras; no time given)"),
    "count-ones": (["count-ones", "--preset", "fast"], 0.999, "3-4 hours for 0.1 % error"),
    "sentiment": (["sentiment"], 0.8639, "about 200 s/epoch in Keras"),
    "babi": (["babi", "--preset", "read-story"], 0.995, "about 3 s/epoch x 120 epochs in Keras"),
}


def row(task: str, backend: str, folder: Path) -> str:
    arguments, target, source = TASKS[task]
    run = train_cli([*arguments, "--rnn-backend", backend], folder)
    print(json.dumps(run), flush=True)
    m = run["metrics"]
    epoch, seconds = reached(folder / "log.csv", target) or ("not reached", None)
    return (f"| {task} | {m['rnn_backend']} | {target:.2%} | {epoch} | "
            f"{'-' if seconds is None else f'{seconds:.0f}'} | {m['epochs']} | "
            f"{m['value']:.2%} {m['metric']} | {run['wall']:.0f} / {run['cpu']:.0f} | "
            f"{run['peak_mb']:.0f} MB | {source} |")


def main() -> None:
    bench = Bench(__doc__, __file__, "time-to-quality")
    bench.parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=sorted(TASKS),
                              help="default: all")
    bench.parser.add_argument("--backends", nargs="+", default=["fused", "unfused"])
    args = bench.parse()
    lines = [f"Command: `{bench.command()}`", "",
             "| task | kernel | validation target | reached at epoch | train seconds to target "
             "| epochs run | test | whole command: wall s / CPU s | peak RSS (process tree) | "
             "source's time |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        lines += [row(task, backend, Path(tmp) / f"{task}-{backend}")
                  for task in args.tasks for backend in args.backends]
    bench.finish("\n".join(lines))


if __name__ == "__main__":
    main()
