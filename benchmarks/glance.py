"""BENCHMARKS.md's "At a glance": the headline figures of the tables below it, each with a
link to its table and the date of its measurement.

    .venv/bin/python benchmarks/glance.py [--no-write]

It measures nothing: it reads the sections the other scripts wrote (quality from the
arithmetic, seed-model and bAbI tables; speed from the goal lines of the speed tables;
serving from the batch-1 table's ratio column and the int8 table), so it runs last in ``make bench`` and
``make bench-quick``.  A section not yet measured on the current machine says so.
"""
from __future__ import annotations

import re

from harness import BENCHMARKS, Bench

HEADINGS = {}  # section name -> its heading's anchor, filled from BENCHMARKS.md


def sections(text: str) -> dict:
    """name -> the text between its markers, and each section's anchor into HEADINGS."""
    found, heading = {}, None
    for block in re.split(r"(<!-- [a-z0-9-]+:begin -->.*?<!-- [a-z0-9-]+:end -->)", text,
                          flags=re.S):
        match = re.match(r"<!-- ([a-z0-9-]+):begin -->", block)
        if match:
            found[match.group(1)] = block
            HEADINGS[match.group(1)] = heading
        else:
            headings = re.findall(r"^#+ (.+)$", block, flags=re.M)
            heading = headings[-1] if headings else heading
    return found


def anchor(name: str) -> str:
    words = re.sub(r"[^\w\- ]", "", (HEADINGS.get(name) or name).lower())
    return "#" + words.replace(" ", "-")


def table(block: str) -> list:
    """The first markdown table of a section, as dicts keyed by its header."""
    rows = [line.strip().strip("|").split(" | ") for line in block.splitlines()
            if line.startswith("|")]
    if len(rows) < 3:
        return []
    return [dict(zip([h.strip() for h in rows[0]], [c.strip() for c in row])) for row in rows[2:]]


def date(block: str) -> str:
    found = re.search(r", (\d{4}-\d\d-\d\d) \d\d:\d\d, commit (\w+)", block)
    return f"{found.group(1)}, {found.group(2)}" if found else "date not stamped"


def measured(found: dict, name: str) -> bool:
    return name in found and "Not yet measured" not in found[name]


def cite(found: dict, name: str, what: str) -> str:
    return f"{what} ([table]({anchor(name)}), {date(found[name])})"


def arithmetic(found: dict) -> list:
    """A line per source row; the preset's seeds as one range."""
    rows, held = table(found["arithmetic"]), "exact match, 200 held-out expressions"
    lines = [cite(found, "arithmetic", f"Arithmetic seq2seq, {row['configuration']}, "
                  f"{row['kernel']}: {row['exact match, fresh samples']} exact match on fresh "
                  f"expressions, {row[held]} on 200 held out")
             for row in rows if row["configuration"].startswith("source")]
    preset = [row for row in rows if not row["configuration"].startswith("source")]
    if preset:
        shares = sorted({row[held] for row in preset}, key=lambda cell: float(cell.rstrip(" %")))
        spread = shares[0] if len(shares) == 1 else f"{shares[0]} to {shares[-1]}"
        lines.append(cite(found, "arithmetic", f"Arithmetic seq2seq, {preset[0]['configuration']}"
                          f" (`make run`), {len(preset)} seeds: {spread} on 200 held out"))
    return lines


def quality(found: dict) -> list:
    lines = []
    if measured(found, "arithmetic"):
        lines += arithmetic(found)
    if measured(found, "seed-models"):
        for row in table(found["seed-models"]):
            lines.append(cite(found, "seed-models", f"{row['task']}, {row['configuration']}"
                              f": {row['result']}"))
    if measured(found, "babi-tasks"):
        for row in table(found["babi-tasks"]):
            if "reference" in row["configuration"] or "best seed" in row["configuration"]:
                error = re.sub(r"^([\d.]+)", r"\1 %", row["mean error %"])
                lines.append(cite(found, "babi-tasks", f"bAbI, {row['configuration']}: "
                                  f"{error} mean error, "
                                  f"{row['failed (> 5 %)']} failed tasks"))
    return lines


def goal_lines(found: dict, name: str, what: str) -> list:
    if not measured(found, name):
        return []
    goals = [line[2:] for line in found[name].splitlines() if line.startswith("- ")]
    # "**met**" or "**not met**": the goal lines, not the runs' agreement lines
    return [cite(found, name, f"{what}: {goal}") for goal in goals if "met**" in goal]


def serving(found: dict) -> list:
    if not measured(found, "batch1"):
        return []
    ratio = "MXNet (compiled where written) / onnxruntime, p50"
    parts = [f"{row['task (default model), input']} {row[ratio]}"
             for row in table(found["batch1"]) if ratio in row]
    return [cite(found, "batch1", "Batch 1, MXNet's time over onnxruntime's: " + "; ".join(parts))]


def int8(found: dict) -> list:
    """One line: each language model's perplexity and speed-up, the other exports' largest
    change of metric and their speed-ups' range (at 20 rows)."""
    if not measured(found, "int8"):
        return []
    rows = table(found["int8"])
    speed = {row["run"]: row["20 rows, ms"].split("(")[-1].rstrip(")") for row in rows}
    models = [f"{row['run']} perplexity {float(row['fp32']):.2f} in fp32, "
              f"{float(row['int8']):.2f} in int8, {speed[row['run']]} the fp32 speed"
              for row in rows if "perplexity" in row["metric"]]
    others = [row for row in rows if "perplexity" not in row["metric"]]
    if others:
        points = max(abs(float(row["int8"]) - float(row["fp32"])) * 100 for row in others)
        ups = sorted((speed[row["run"]] for row in others), key=lambda cell: float(cell[:-1]))
        models.append(f"the other {len(others)} exports within {points:.1f} points of fp32, "
                      f"{ups[0]} to {ups[-1]} its speed")
    return [cite(found, "int8", "int8 exports, 20 rows: " + "; ".join(models))]


def main(argv=None) -> None:
    bench = Bench(__doc__, __file__, "glance")
    bench.parse(argv)
    found = sections(BENCHMARKS.read_text())
    out = []
    for topic, lines, sources in (
            ("Quality against the tutorials", quality(found), ("arithmetic", "seed-models",
                                                               "babi-tasks")),
            ("Training speed against PyTorch",
             goal_lines(found, "speed", "one thread") +
             goal_lines(found, "speed-2threads", "two threads") +
             goal_lines(found, "speed-gru", "GRU") +
             goal_lines(found, "speed-gru-2threads", "GRU, two threads"),
             ("speed", "speed-2threads", "speed-gru", "speed-gru-2threads")),
            ("Serving against onnxruntime", serving(found) + int8(found), ("batch1", "int8"))):
        missing = [f"[{HEADINGS.get(s) or s}]({anchor(s)})" for s in sources
                   if not measured(found, s)]
        out += [f"**{topic}**", ""] + [f"- {line}" for line in lines]
        if missing:
            out.append(f"- Not yet measured on the current machine: {', '.join(missing)} "
                       "(the earlier machines' figures: "
                       "[history](benchmarks/history/2026-12-01.md)).")
        out.append("")
    bench.finish("\n".join(out).strip())


if __name__ == "__main__":
    main()
