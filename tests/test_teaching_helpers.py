"""The display helpers the notebooks 04-06 use (gluon_seq.plots)."""
import pytest

from gluon_seq.plots import markdown_table


def test_markdown_table_has_a_header_a_rule_and_one_line_per_row():
    text = markdown_table(["expression", "predicted"], [["7*3*2", "42"], ["1|2", 3]])
    assert text.splitlines() == ["| expression | predicted |", "|---|---|",
                                 "| 7*3*2 | 42 |", "| 1\\|2 | 3 |"]


def test_markdown_table_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match="2 cells"):
        markdown_table(["a", "b"], [["only one"]])
