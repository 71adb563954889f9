"""The bad-input sweep: wrong-typed and out-of-range values for every option of every
task, each given to ``gluon-seq train``; every one must be refused with exit status
2 and one error line before any work starts.

    python benchmarks/bad_input.py [--examples 2000]

It runs the suite's property-based test (``tests/test_cli_fuzz.py``) with more
examples per task, which asserts the outcome of every case, and writes how many
cases were tried into BENCHMARKS.md."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Machine  # noqa: E402
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="generated cases per task")
    args = parser.parse_args()
    machine = Machine.now()
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "sweep.jsonl"
        env = dict(os.environ, GLUON_SEQ_FUZZ_EXAMPLES=str(args.examples),
                   GLUON_SEQ_FUZZ_REPORT=str(report))
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/test_cli_fuzz.py"], cwd=ROOT, env=env)
        seconds = time.perf_counter() - start
        rows = [json.loads(line) for line in report.read_text().splitlines()] \
            if report.is_file() else []
    if done.returncode != 0 or not rows:
        print("the sweep failed: see the test output above", file=sys.stderr)
        return 1
    table = ["| task | options on its CLI | options hit | bad values tried | answered exit 2, one line |",
             "|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: r["task"]):
        table.append(f"| {row['task']} | {row['options']} | {row['flags']} | {row['cases']:,} | "
                     f"{row['cases']:,} |")
    total = sum(r["cases"] for r in rows)
    text = "\n".join([
        f"`python benchmarks/bad_input.py --examples {args.examples}`: {total:,} bad values over "
        f"{len(rows)} tasks in {seconds:.0f} s; every one was refused with exit status 2, one "
        "error line and no run folder that looks trained (the test asserts each case; a "
        "single failure fails the script).", "", *table, "", machine.line()])
    write_section("bad-input", "## Bad input (issue 13)", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
