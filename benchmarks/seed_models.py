"""Seed models: every tutorial's own configuration, trained by the real CLI, with its
result, its time and the peak memory of the whole process tree.

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/seed_models.py
        [--quick] [--only alphabet babi ...] [--runs runs/seed-models] [--no-write]

One row per seed configuration (a task's source settings or one of its presets), each
``gluon-seq train`` in a fresh process on the task's real data (``harness.train_cli``),
its result read from ``metrics.json``.  The full profile (the default) trains each preset
for its own epochs on all its data: hours, most of them PTB's.  ``--quick`` trains a few
epochs on a share of the data, in minutes: its rows show that every configuration runs
end to end and what it costs, not the quality the presets reach, so they carry no
source's figure.  Run folders stay in ``--runs`` (PROFILE/ROW); a failed row is reported
and nothing is written.
"""
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT, Bench, train_cli



@dataclass(frozen=True)
class Row:
    name: str             # what --only takes
    task: str             # the table's task column
    configuration: str
    arguments: tuple      # gluon-seq train arguments of the full profile
    quick: tuple          # added to them by --quick
    source: str           # the source's reported figure
    error: bool = False   # report 1 - accuracy (count-ones' source reports error)


ROWS = (
    Row("alphabet", "alphabet, 3 letters", "source: letter/26 as one input per step, LSTM(32), "
        "Adam 1e-3, batch 1", ("alphabet",), ("--epochs", "200"), "95.65 %"),
    Row("alphabet-one-letter", "alphabet, 1 letter", "source, `one-letter` preset",
        ("alphabet", "--preset", "one-letter"), ("--epochs", "200"), "84 %"),
    Row("count-ones", "count-ones", "`fast` preset: batch 50, Adam 1e-2, clip 5; tested on all "
        "1,038,576 strings not trained on", ("count-ones", "--preset", "fast", "--rnn-backend",
                                              "fused"),
        ("--epochs", "20"), "0.1 % error after 5,000 epochs, 3-4 hours", error=True),
    Row("sentiment", "sentiment IMDB", "source: top-5,000 vocabulary, last 500 tokens, "
        "Embedding 32, LSTM(100), Adam, batch 128", ("sentiment", "--rnn-backend", "fused"),
        ("--epochs", "2", "--train-limit", "8000", "--eval-limit", "2000"), "86.39 %"),
    Row("sentiment-bilstm", "sentiment IMDB", "`bilstm` preset: vocabulary 10,000, Embedding 64, "
        "channel dropout 0.4, token dropout 0.2, bidirectional LSTM 2 x 100 max-pooled, batch 32",
        ("sentiment", "--preset", "bilstm", "--rnn-backend", "fused"),
        ("--epochs", "1", "--train-limit", "4000", "--eval-limit", "2000"),
        "86.39 % (source); Maas et al. 88.89 %"),
    Row("web-traffic", "sentiment web-traffic", "`web-traffic` preset: characters of generated "
        "request lines, Embedding(1024, 256), LSTM(128), Dropout 0.5, rmsprop",
        ("sentiment", "--preset", "web-traffic", "--rnn-backend", "fused"),
        ("--epochs", "2", "--traffic-size", "8000"), "no figure (no public data)"),
    Row("ptb-small", "ptb", "`small` preset (Zaremba 2014: 2 x 200, 20 steps, SGD lr 1, clip 5, "
        "decay 0.5 after epoch 4)", ("ptb", "--preset", "small", "--rnn-backend", "fused"),
        ("--epochs", "1", "--train-tokens", "100000", "--eval-tokens", "20000"),
        "114.5 test perplexity after 13 epochs"),
    Row("ptb-source", "ptb", "`source` preset (Keras: Embedding 500, 2 x LSTM(500), Dropout 0.5, "
        "Adam, 30 steps, batch 20)", ("ptb", "--preset", "source", "--rnn-backend", "fused"),
        ("--epochs", "1", "--train-tokens", "50000", "--eval-tokens", "20000"),
        "20-25 % valid next-word accuracy after 40 epochs"),
    Row("babi-read-story", "babi QA1 en-10k", "`read-story` preset: the answer LSTM reads the "
        "story's words", ("babi", "--preset", "read-story", "--rnn-backend", "fused"),
        ("--epochs", "30"), "98.6 % (the source model)"),
    Row("babi", "babi QA1 en-10k", "source (Keras babi_memnn): rmsprop 1e-3, batch 32, 10 % of "
        "the training questions held out", ("babi", "--rnn-backend", "fused"),
        ("--epochs", "30"), "98.6 % after 120 epochs"),
)


def train_arguments(row: Row, quick: bool) -> list:
    return [*row.arguments, *(row.quick if quick else ())]


def preset_epochs(row: Row) -> int:
    """The epochs the row's configuration trains for without --epochs."""
    from gluon_seq import RunConfig  # imports mxnet: only when a table is made

    preset = row.arguments[row.arguments.index("--preset") + 1] \
        if "--preset" in row.arguments else None
    return RunConfig.for_task(row.arguments[0], preset=preset).epochs


def result_text(row: Row, metrics: dict) -> str:
    """The task's own metric, as its source reports it."""
    if metrics["metric"] == "perplexity":
        test, valid = metrics["splits"]["test"], metrics["splits"]["valid"]
        return (f"{test['perplexity']:.1f} test perplexity ({test['accuracy']:.2%} next-word "
                f"accuracy); valid {valid['perplexity']:.1f} ({valid['accuracy']:.2%})")
    value = metrics["value"]
    if row.error:
        return f"{1 - value:.3%} {metrics['split']} error"
    return f"{value:.2%} {metrics['split']} {metrics['metric']}"


def table_row(row: Row, result: dict, full_epochs=None) -> str:
    """One markdown row; ``full_epochs`` (the quick profile) says of how many."""
    command = f"`gluon-seq train {' '.join(train_arguments(row, result['quick']))}`"
    if result["code"]:
        cells = [f"failed, exit status {result['code']} (log: {result['log']})", "", "", ""]
    else:
        m = result["metrics"]
        epochs = f"{m['epochs']}" + (f" of {full_epochs} (quick)" if full_epochs else "")
        cells = [result_text(row, m), str(m["best_epoch"]), epochs, f"{m['train_seconds']:.0f}"]
    cells += [f"{result['wall']:.0f} / {result['cpu']:.0f}", f"{result['peak_mb']:.0f} MB"]
    if not result["quick"]:
        cells.append(row.source)
    return "| " + " | ".join([row.task, row.configuration, *cells, command]) + " |"


def table(rows, results, command: str, seconds: float) -> str:
    quick = results[0]["quick"]
    header = ["task", "configuration", "result", "best epoch", "epochs", "train s",
              "whole command: wall s / CPU s", "peak RSS (process tree)"]
    align = ["---"] * 3 + ["---:"] * 5
    if not quick:
        header, align = header + ["source's figure"], align + ["---"]
    lines = [f"Command: `{command}`", "",
             ("Quick profile: each row trains a few epochs on a share of its data, so the "
              "figures show it runs end to end and what it costs, not the quality the "
              "preset reaches." if quick else
              "Full profile: each configuration's own epochs on all its data."),
             "", "| " + " | ".join(header + ["command"]) + " |",
             "|" + "|".join(align + ["---"]) + "|"]
    lines += [table_row(row, result, preset_epochs(row) if quick else None)
              for row, result in zip(rows, results)]
    return "\n".join(lines + ["", f"The whole profile took {seconds / 60:.1f} minutes."])


def main(argv=None) -> int:
    bench = Bench(__doc__, __file__, "seed-models")
    bench.parser.add_argument("--quick", action="store_true", help="a few epochs on a share of "
                              "the data per row (minutes, not hours)")
    bench.parser.add_argument("--only", nargs="+", choices=[row.name for row in ROWS],
                              default=None, metavar="ROW", help="run only these rows: " +
                              ", ".join(row.name for row in ROWS))
    bench.parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "seed-models",
                              help="where the run folders go (PROFILE/ROW)")
    args = bench.parse(argv)
    rows = [row for row in ROWS if not args.only or row.name in args.only]
    start, results = time.perf_counter(), []
    for row in rows:
        folder = args.runs / ("quick" if args.quick else "full") / row.name
        results.append(dict(train_cli(train_arguments(row, args.quick), folder, check=False),
                            row=row.name, quick=args.quick))
        print(json.dumps(results[-1]), flush=True)
    text = table(rows, results, bench.command(), time.perf_counter() - start)
    failed = [row.name for row, result in zip(rows, results) if result["code"]]
    if failed:
        print(text)
        print(f"failed: {', '.join(failed)}; BENCHMARKS.md left as it was", file=sys.stderr)
        return 1
    bench.finish(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
