"""``gluon-seq ask EXPORT_DIR``: the bAbI tutorial's interactive question answering
(its ``final.py``), answered from an export folder alone.

Story lines until an empty line, then questions about that story, each answered
with its probability and the sentence the model attended to most (the export's
second output); an empty line starts a new story, ``exit`` or the end of the
input ends with status 0.  An unknown word gets one sentence naming the
nearest known ones, and the session goes on.
"""
from __future__ import annotations

import difflib
import sys
import textwrap
from pathlib import Path
from typing import Callable, List, Optional

from ..codecs.babi import BabiCodec, tokenize
from ..codecs.babi_memory import attended_sentence
from ..util.errors import ArgumentParser, UserError
from ..serving import load_predictor
from ..serving.format import second_output_rows

EXIT = "exit"
NEW_STORY = "Story: one sentence per line, an empty line to finish ('exit' quits)."
FIRST_QUESTION = "Question: "
NEXT_QUESTION = "Another question about the same story (an empty line starts a new story): "
NO_ATTENTION = ("(This export has no attention output; re-export the run with this version "
                "to see the sentence the model attended to.)")


class Ending(Exception):
    """``exit`` typed, or the input ended."""


def unknown_words_sentence(words: List[str], vocab: List[str], fold=str) -> str:
    """One sentence naming each unknown word and the nearest ``vocab`` words (``fold``ed)."""
    parts = []
    for word in words:
        near = difflib.get_close_matches(fold(word), vocab, n=3, cutoff=0.5)
        hint = f"nearest: {', '.join(near)}" if near else "no known word is close"
        parts.append(f"{word!r} ({hint})")
    noun = "word" if len(words) == 1 else "words"
    return f"This model does not know the {noun} {'; '.join(parts)}."


class Session:
    """One interactive session over ``model`` (a predictor of a bAbI export);
    ``read(prompt)`` returns a line without its newline, raising EOFError at the end."""

    def __init__(self, model, read: Callable[[str], str] = input,
                 write: Callable[[str], None] = print):
        self.model, self.codec = model, model.codec
        self._read, self._write = read, write

    def line(self, prompt: str) -> str:
        try:
            text = self._read(prompt).strip()
        except EOFError:
            raise Ending() from None
        if text.lower() == EXIT:
            raise Ending()
        return text

    def unknown(self, text: str) -> Optional[str]:
        """The sentence about the words of ``text`` the model lacks, or None."""
        fold = str.lower if getattr(self.codec, "lowercase", False) else str  # memn2n's vocabulary
        missing = sorted({t for t in tokenize(text) if fold(t) not in self.codec.index})
        return unknown_words_sentence(missing, self.codec.vocab, fold) if missing else None

    def read_story(self) -> List[str]:
        self._write(NEW_STORY)
        story: List[str] = []
        while True:
            text = self.line("> ")
            if not text:
                if story:
                    return story
                self._write("The story needs at least one sentence.")
                continue
            problem = self.unknown(text)
            if problem:
                self._write(problem + " That line was not added.")
                continue
            story.append(text if text[-1] in ".?!" else text + ".")

    def answer(self, story: List[str], question: str) -> List[str]:
        """The lines that answer ``question`` about ``story`` (UserError on bad input)."""
        item = {"story": " ".join(story), "question": question}
        outputs = self.model.run(self.codec.encode([item]))
        answer = self.codec.decode(outputs)[0]
        lines = [f"Answer: {answer['answer']} (probability {answer['probability']:.3f})"]
        if len(outputs) < 2:
            return lines + [NO_ATTENTION]
        seen = attended_sentence(self.codec, item, outputs[1][0],
                                 second_output_rows(self.model.meta))
        if "hop" in seen:
            where = f"weight {seen['weight']:.3f} at hop {seen['hop']}"
        elif "block" in seen:
            where = f"written into memory block {seen['block']} with gate {seen['weight']:.3f}"
        else:
            where = (f"its word {seen['story_word']!r} matched the question's "
                     f"{seen['question_word']!r} with weight {seen['weight']:.3f}")
        return lines + [f"Attended to most: {seen['sentence']!r} ({where})"]

    def run(self) -> None:
        words = " ".join(self.codec.vocab)
        self._write(f"This model knows {len(self.codec.vocab)} words:\n" + textwrap.fill(
            words, 78, initial_indent="  ", subsequent_indent="  "))
        try:
            story, prompt = self.read_story(), FIRST_QUESTION
            while True:
                question = self.line(prompt)
                if not question:  # after an answer: a new story; before one: ask again
                    if prompt == NEXT_QUESTION:
                        story, prompt = self.read_story(), FIRST_QUESTION
                    continue
                question = question if question[-1] in ".?!" else question + "?"
                problem = self.unknown(question)
                try:
                    for text in ([problem] if problem else self.answer(story, question)):
                        self._write(text)
                except UserError as err:
                    self._write(f"{err} Start a new story with an empty line.")
                prompt = NEXT_QUESTION
        except Ending:
            self._write("")


def _echoed_line(prompt: str) -> str:
    """A line of piped input, printed after its prompt so the output reads as a session."""
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    line = line.rstrip("\r\n")
    print(prompt + line, flush=True)
    return line


def cmd_ask(argv: List[str]) -> int:
    parser = ArgumentParser(prog="gluon-seq ask",
                            description="Ask a bAbI export questions about your own stories.")
    parser.add_argument("export_dir")
    parser.add_argument("--backend", default="mxnet",
                        help="serving runtime: mxnet (default), onnxruntime (needs model.onnx) or "
                             "auto (the faster here, timed at load)")
    args = parser.parse_args(argv)
    model = load_predictor(Path(args.export_dir), args.backend)
    if not isinstance(model.codec, BabiCodec):  # the memory network's codec is one too
        raise UserError(f"{args.export_dir} holds a {model.task!r} model; ask answers questions "
                        "about stories with a bAbI export.")
    if sys.stdin.isatty():
        try:
            import readline  # noqa: F401  line editing for input() at a terminal
        except ImportError:
            pass
    try:
        Session(model, input if sys.stdin.isatty() else _echoed_line,
                lambda text: print(text, flush=True)).run()
    except KeyboardInterrupt:
        print()
        return 130
    return 0
