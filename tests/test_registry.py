"""Registries find every module, whatever was imported first, and refuse an unknown name
in one sentence."""
import subprocess
import sys

import pytest

from gluon_seq.util.errors import UserError
from gluon_seq.util.registry import Registry

TASKS = {"alphabet", "arithmetic", "babi", "count-ones", "ptb", "sentiment"}
CODECS = {"babi", "babi-memory", "chars", "symbols", "text", "words"}


def _names_after_importing(first: str, registry: str) -> set:
    code = f"import {first}; from {registry.rpartition('.')[0]} import {registry.rpartition('.')[2]} as r; print(' '.join(r.names()))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_importing_one_task_module_first_still_finds_all_tasks():
    assert _names_after_importing("gluon_seq.tasks.arithmetic", "gluon_seq.tasks.TASKS") == TASKS


def test_importing_one_codec_first_still_finds_all_codecs():
    assert _names_after_importing("gluon_seq.codecs.chars", "gluon_seq.codecs.CODECS") == CODECS


def test_a_registered_class_gets_its_name_and_an_unknown_name_is_one_sentence():
    table = Registry("widget", attribute="kind")

    @table.register("round")
    class Round:
        pass

    assert Round.kind == "round" and table.get("round") is Round and table.names() == ["round"]
    with pytest.raises(UserError, match=r"^unknown widget 'square'; choose one of round\.$"):
        table.get("square")
