"""MemN2N's seed spread under two gradient clips: the reference code's and the global norm.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memn2n_clip.py [--tasks 2 4 15 16]
        [--seeds 0-4] [--out runs/bench-memn2n-clip] [--no-write]

Each (clip, task, seed) trains ``--preset memn2n --clip-norm CLIP`` on one task of the
1k set (one seed per run, restarts=1) into ``OUT/CLIP/qaN/seedS``; a folder holding
``metrics.json`` is read, not trained again.  "global" (the default) bounds the norm of
all gradients together; "each-matrix" bounds every weight matrix's gradient by its
largest singular value, as MemN2N's reference code (Weight.m) does.  Both use the same
learning rate, data and seeds, so the columns differ by the clip alone.  The table counts a run as collapsed at 20 points or more
below the best run of its task.
"""
import json
from pathlib import Path

from babi_tasks import train_one
from harness import ROOT, Bench

CLIPS = ("global", "each-matrix")
COLLAPSE = 0.20  # this far below the task's best run


def accuracy(clip: str, task: int, seed: int, out: Path) -> float:
    folder = out / clip / f"qa{task}" / f"seed{seed}"
    if (folder / "metrics.json").is_file():
        return json.loads((folder / "metrics.json").read_text())["value"]
    return train_one("memn2n", "en", task, seed, folder, None, {"clip_norm": clip})["value"]


def seeds(text: str) -> list:
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def main() -> None:
    bench = Bench(__doc__, __file__, "memn2n-clip")
    bench.parser.add_argument("--tasks", nargs="+", type=int, default=[2, 4, 15, 16])
    bench.parser.add_argument("--seeds", type=seeds, default=seeds("0-4"))
    bench.parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-memn2n-clip")
    args = bench.parse()
    found = {(c, t): [accuracy(c, t, s, args.out) for s in args.seeds]
             for t in args.tasks for c in CLIPS}
    rows = []
    for task in args.tasks:
        best = max(a for c in CLIPS for a in found[c, task])
        for clip in CLIPS:
            runs = found[clip, task]
            collapsed = sum(a <= best - COLLAPSE for a in runs)
            rows.append(f"| QA{task} | {clip} | {' / '.join(f'{100 * a:.1f}' for a in runs)} | "
                        f"{100 * min(runs):.1f} | {100 * sum(runs) / len(runs):.1f} | "
                        f"{100 * max(runs):.1f} | {collapsed} of {len(runs)} |")
    bench.finish("\n".join([
        f"Command: `{bench.command()}`; `--preset memn2n` on the 1k set, seeds "
        f"{args.seeds[0]}-{args.seeds[-1]}, one run each; test accuracy %.", "",
        "| task | --clip-norm (--clip 1.25) | each seed | min | mean | max | collapsed (20 points "
        "or more below the task's best run) |",
        "|---|---|---|---:|---:|---:|---|", *rows]))


if __name__ == "__main__":
    main()
