"""Read oneDNN's ``DNNL_VERBOSE=1`` log: time per primitive kind, per timed call.

oneDNN 2.4 (MXNet 1.9.1's) prints one line per executed primitive,

    dnnl_verbose,exec,cpu,<primitive>,<impl>,<prop>,<memory descs>,<attrs>,<aux>,<problem>,<ms>

(``mkldnn_verbose`` in older builds).  step_profile.py brackets each timed call
with :data:`BEGIN` / :data:`END` marker lines, so the lines between them are that call's.
A reorder whose source and destination have the same layout is a plain copy; otherwise
it re-lays the data out (in a fused step: the RNN primitive's weights, on every call).
"""
from __future__ import annotations

import statistics
from typing import Dict, Iterable, List, Tuple

PREFIXES = ("dnnl_verbose", "mkldnn_verbose")
BEGIN, END = "@@profile-call-begin", "@@profile-call-end"


def _layout(descriptor: str) -> str:
    """'dst_f32:p:blocked:abdEc32e:f0' -> 'p:blocked:abdEc32e' (padding flag, format)."""
    parts = descriptor.split(":")
    return ":".join(parts[1:-1])


def kind(fields: List[str]) -> str:
    """The kind a verbose exec line counts under: 'rnn backward', 'reorder (copy)', ..."""
    primitive, prop = fields[3], fields[5]
    if primitive == "reorder":
        layouts = [_layout(d) for d in fields[6].split()]
        same = len(layouts) == 2 and layouts[0] == layouts[1]
        return "reorder (copy)" if same else "reorder (re-layout)"
    return primitive if prop in ("", "undef") else f"{primitive} {prop}"


def parse_line(line: str):
    """(kind, ms) of an exec line; None for anything else (info lines, our output)."""
    fields = line.strip().split(",")
    if len(fields) < 8 or fields[0] not in PREFIXES or fields[1] != "exec":
        return None
    try:
        return kind(fields), float(fields[-1])
    except ValueError:
        return None


def per_kind(lines: Iterable[str]) -> Dict[str, Tuple[float, int]]:
    """{kind: (total ms, primitive executions)} over ``lines``."""
    sums: Dict[str, Tuple[float, int]] = {}
    for line in lines:
        parsed = parse_line(line)
        if parsed:
            ms, count = sums.get(parsed[0], (0.0, 0))
            sums[parsed[0]] = (ms + parsed[1], count + 1)
    return sums


def split_calls(lines: Iterable[str]) -> List[Tuple[float, List[str]]]:
    """[(wall seconds, the call's lines)] for each BEGIN ... END <seconds> bracket."""
    calls, current = [], None
    for line in lines:
        if line.startswith(BEGIN):
            current = []
        elif line.startswith(END) and current is not None:
            calls.append((float(line.split()[1]), current))
            current = None
        elif current is not None:
            current.append(line)
    return calls


def summarize(calls: List[Tuple[float, List[str]]]) -> Dict[str, Tuple[float, float]]:
    """{row: (median ms per call, executions per call)}: each kind, 'all primitives',
    'outside the primitives' (the call's wall time less theirs) and 'wall'."""
    if not calls:
        raise ValueError("no timed calls found in the verbose log")
    sums = [per_kind(lines) for _, lines in calls]
    kinds = sorted({k for s in sums for k in s})
    rows = {k: (statistics.median(s.get(k, (0.0, 0))[0] for s in sums),
                statistics.median(s.get(k, (0.0, 0))[1] for s in sums)) for k in kinds}
    inside = [sum(ms for ms, _ in s.values()) for s in sums]
    rows["all primitives"] = (statistics.median(inside),
                              statistics.median(sum(n for _, n in s.values()) for s in sums))
    walls = [seconds * 1e3 for seconds, _ in calls]
    rows["outside the primitives"] = (statistics.median(w - i for w, i in zip(walls, inside)), 0)
    rows["wall"] = (statistics.median(walls), 1)
    return rows
