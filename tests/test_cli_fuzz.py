"""Property-based: every option of every task, given a wrong-typed or out-of-range
value, is refused before any work starts: exit status 2, one error line, no
traceback, and no run folder that looks trained.

The options are read from the CLI's own parser and the rules from the fields
they belong to (:mod:`gluon_seq.util.settings`), so a new option is covered as soon
as it exists.  A value counts as bad when the option's type cannot parse it,
it is not among the choices, or the field's declared check rejects it.

GLUON_SEQ_FUZZ_EXAMPLES sets the generated cases per task (60 by default); the larger sweep
BENCHMARKS.md reports ("Bad input") is this test with GLUON_SEQ_FUZZ_EXAMPLES=2000."""
import argparse
import dataclasses
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gluon_seq import tasks
from gluon_seq.util.settings import flag_of
from gluon_seq.cli import commands as cli
from gluon_seq.data.generated import write_qa1_tarball, write_synthetic_corpus
from gluon_seq import RunConfig
from gluon_seq.util.settings import check_of

FREE_TEXT = {"out", "data_dir", "opt_corpus", "opt_tarball"}  # any text is a value there
EXAMPLES = int(os.environ.get("GLUON_SEQ_FUZZ_EXAMPLES", "60"))


def _rules(task_cls):
    """dest -> the declared check (run settings and the task's options)."""
    rules = {f.name: check_of(f) for f in dataclasses.fields(RunConfig)}
    rules.update({f"opt_{f.name}": check_of(f) for f in task_cls.option_fields()})
    return rules


def _options(task_name):
    parser = cli._train_parser(task_name)
    return [a for a in parser._actions if a.option_strings and a.dest not in FREE_TEXT
            and a.dest not in ("help", "resume", "task")]


def _parse(action, text):
    """The value argparse would hand over, or None when it refuses the text."""
    if action.nargs == 0:
        return None  # a switch given a value: argparse refuses it
    try:
        value = action.type(text) if action.type else text
    except (argparse.ArgumentTypeError, ValueError):
        return None
    if action.choices is not None and value not in action.choices:
        return None
    return value


def _is_bad(task_cls, action, text) -> bool:
    value = _parse(action, text)
    if value is None:
        return True
    if action.dest == "preset":
        return value not in task_cls.presets
    rule = _rules(task_cls).get(action.dest)
    if action.dest == "ctx" or rule is None:
        return rule is not None and not rule.test(value)
    return not rule.test(value)


TEXTS = st.one_of(
    st.text(max_size=12),
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e400", "1.5", "cpu:abc", "gpu:x",
                     "cpu,cpu", "1,2", "", " ", "tru", "none"]),
)


@pytest.fixture(scope="module")
def tiny_argv(tmp_path_factory):
    """Per task, flags that make a run tiny, so a bad value that slipped through
    would show up as a fast success rather than a long training run."""
    folder = tmp_path_factory.mktemp("tiny-data")
    extra = {"ptb": ["--corpus", str(write_synthetic_corpus(folder / "ptb"))],
             "babi": ["--tarball", str(write_qa1_tarball(folder / "babi.tar.gz"))]}
    argv = {}
    for name in tasks.names():
        task_cls = tasks.get(name)
        flags = {f.name: flag_of(f) for f in task_cls.option_fields()}
        tiny = [part for key, value in task_cls.tiny_options.items()
                for part in (flags[key], str(value))]
        argv[name] = ["--epochs", "1", "--batch-size", "8", *tiny, *extra.get(name, [])]
    return argv


@pytest.mark.parametrize("task_name", tasks.names())
def test_every_bad_option_value_is_one_line_and_exit_2(task_name, tiny_argv, tmp_path_factory,
                                                       capsys):
    task_cls = tasks.get(task_name)
    options = _options(task_name)
    assert len(options) > 10  # the run settings and the task's own options

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(action=st.sampled_from(options), text=TEXTS)
    def bad_value_is_refused(action, text):
        assume(_is_bad(task_cls, action, text))
        flag = action.option_strings[-1]
        out = tmp_path_factory.mktemp("run")
        argv = ["train", task_name, *tiny_argv[task_name], "--out", str(out), f"{flag}={text}"]
        code = cli.main(argv)
        captured = capsys.readouterr()
        assert code == 2, (argv, captured.err)
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gluon-seq: error: "), lines
        assert "Traceback" not in captured.err
        assert not (out / "progress.json").exists() and not (out / "checkpoint.params").exists()

    bad_value_is_refused()
