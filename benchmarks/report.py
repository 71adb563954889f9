"""Write one benchmark's table into its own marked section of BENCHMARKS.md."""
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(name: str, heading: str, text: str) -> None:
    """Replace the text between ``<!-- name:begin -->`` and ``<!-- name:end -->``;
    on first use, put the markers in place of ``_pending_`` under ``heading``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text}\n{end}"
    content = BENCHMARKS.read_text()
    if begin in content:
        content = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, content,
                         flags=re.S)
    else:
        content = content.replace(f"{heading}\n\n_pending_", f"{heading}\n\n{block}")
    BENCHMARKS.write_text(content)
