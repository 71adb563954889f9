"""``gluon-seq ask``: the interactive question answering of the bAbI tutorial, from an
export folder, scripted in process, piped, and at a pseudo-terminal."""
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gluon_seq import tasks
from gluon_seq.cli.ask import NEW_STORY, NEXT_QUESTION, NO_ATTENTION, Session
from gluon_seq.cli import main as gluon_seq
from gluon_seq.codecs.babi_memory import split_sentences
from gluon_seq.codecs.babi import tokenize
from gluon_seq.serving import load_predictor

LEGACY = Path(__file__).parent / "fixtures" / "runs_448da8f" / "babi" / "export"
STORY = ["John went to the hallway", "Mary went to the garden."]
QUESTION = "Where is Mary?"


@pytest.fixture(scope="module")
def exports(tmp_path_factory, export_untrained):
    """An untrained memory-network export and an untrained source-model export."""
    folder = tmp_path_factory.mktemp("ask")
    made = {}
    for model in ("memn2n", "entnet", "source"):
        task = tasks.get("babi").tiny(folder, model=model)
        task.prepare()
        made[model] = export_untrained(task, folder / model)[1]
    return made


def _session(folder, lines):
    said, pending = [], list(lines)

    def read(prompt):
        said.append(prompt)
        if not pending:
            raise EOFError
        return pending.pop(0)

    Session(load_predictor(folder), read, said.append).run()
    return said


@pytest.mark.parametrize("model", ["memn2n", "entnet", "source"])
def test_a_session_answers_from_the_export_and_names_the_attended_sentence(exports, model):
    folder = exports[model]
    said = _session(folder, STORY + ["", QUESTION, "", "Sandra went to the office.", "",
                                     "Where is Sandra", "exit", "never read"])
    predictor = load_predictor(folder)
    assert all(word in said[0] for word in predictor.codec.vocab)  # the vocabulary first
    # The missing full stop was added: the answer is the one for the punctuated story.
    item = {"story": "John went to the hallway. Mary went to the garden.", "question": QUESTION}
    want = predictor.predict([item])[0]
    answer = said.index(f"Answer: {want['answer']} (probability {want['probability']:.3f})")
    # The sentence with the largest attention weight, read from the export's second output.
    attention = predictor.run(predictor.codec.encode([item]))[1][0]
    if model in ("memn2n", "entnet"):  # (hops or memory blocks, slots)
        per_sentence = attention[:, -2:].max(axis=0)                      # (2,) slots of the story
    else:
        tokens = tokenize(item["story"])
        per_word = attention[-len(tokens):, -len(tokenize(QUESTION)):].max(axis=1)
        per_sentence = [per_word[:6].max(), per_word[6:].max()]           # 6 tokens each
    best = item["story"].split(". ")[int(np.argmax(per_sentence))].rstrip(".") + "."
    assert said[answer + 1].startswith(f"Attended to most: {best!r}")
    assert ("memory block" in said[answer + 1]) == (model == "entnet")
    # Then another question about the same story was offered; an empty line began a new one.
    assert said[answer + 2] == NEXT_QUESTION and said[answer + 3] == NEW_STORY
    assert said.count(NEXT_QUESTION) == 2 and "never read" not in said
    assert split_sentences(tokenize(item["story"]))[1] == tokenize("Mary went to the garden.")


def test_unknown_words_get_one_sentence_with_the_nearest_words_and_the_loop_goes_on(exports):
    said = _session(exports["memn2n"], ["Mary went to the gardn.", "Mary went to the garden.",
                                        "", "Where is Marie?", QUESTION])
    problems = [line for line in said if "does not know" in line]
    assert len(problems) == 2 and all("\n" not in line for line in problems)
    assert "'gardn' (nearest: garden" in problems[0] and "not added" in problems[0]
    assert "'Marie' (nearest: mary" in problems[1]  # the memory network reads lower case
    assert sum(line.startswith("Answer: ") for line in said) == 1  # asked again, answered
    assert said[-1] == ""  # the input ended: a clean end


def test_an_export_from_before_the_attention_output_still_answers(tmp_path):
    said = _session(LEGACY, ["Mary went to the office.", "", QUESTION])
    want = load_predictor(LEGACY).predict([{"story": "Mary went to the office.",
                                            "question": QUESTION}])[0]
    assert f"Answer: {want['answer']} (probability {want['probability']:.3f})" in said
    assert NO_ATTENTION in said


def test_ask_refuses_an_export_that_is_not_babi(tmp_path, export_untrained, capsys):
    _, folder = export_untrained(tasks.get("arithmetic")(), tmp_path / "export")
    assert gluon_seq(["ask", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bAbI export" in err[0]


def _command(folder):
    return [sys.executable, "-m", "gluon_seq", "ask", str(folder)]


def test_ask_reads_piped_input_and_ends_with_status_0(exports):
    script = "\n".join(STORY + ["", QUESTION, "exit"]) + "\n"
    result = subprocess.run(_command(exports["memn2n"]), input=script, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "> Mary went to the garden." in result.stdout  # piped lines are echoed
    assert f"Question: {QUESTION}\nAnswer: " in result.stdout
    assert "Attended to most: " in result.stdout and "Traceback" not in result.stderr


def _read_until(fd, marker, seconds=60.0):
    seen, end = b"", time.monotonic() + seconds
    while marker not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
    return seen.decode("utf-8", "replace")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="no pseudo-terminals here")
def test_ask_works_at_a_terminal_and_ends_at_end_of_input(exports):
    master, slave = os.openpty()
    child = subprocess.Popen(_command(exports["memn2n"]), stdin=slave, stdout=slave,
                             stderr=slave, close_fds=True)
    os.close(slave)
    try:
        assert "> " in _read_until(master, b"> ")
        for line in STORY + [""]:
            os.write(master, (line + "\n").encode())
        assert "Question: " in _read_until(master, b"Question: ")
        os.write(master, (QUESTION + "\n").encode())
        shown = _read_until(master, NEXT_QUESTION.encode())
        assert "Answer: " in shown and "Attended to most: " in shown
        os.write(master, b"\x04")  # Ctrl-D: end of input at a terminal
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
        os.close(master)


def test_ask_needs_no_task_or_training_code():
    code = ("import sys, gluon_seq.cli.ask; print(sorted(m for m in sys.modules if m.startswith("
            "('gluon_seq.tasks', 'gluon_seq.training.loop', 'gluon_seq.training.workflow', 'gluon_seq.models'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
